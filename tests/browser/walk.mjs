// The seed's click-by-click guide, walked in headless Chromium as a person would: by visible
// labels and button names. Screenshots of every step go to $SHOTS.
import { chromium } from 'playwright-core';
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const axePath = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

const env = process.env;
const base = env.BASE_URL;
const shots = env.SHOTS;
fs.mkdirSync(shots, { recursive: true });
let step = 0;
const results = [];

const browser = await chromium.launch({
  executablePath: env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync'],
});
const page = await browser.newPage();
page.setDefaultTimeout(20000);

async function shot(name) {
  step += 1;
  const file = path.join(shots, `${String(step).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}
// axe-core on the page as it is: serious and critical violations (WCAG 2 A and AA rules) of our
// own pages are collected (the simulated Microsoft pages are not ours); the walk fails at the
// end if there are any.
const a11y = { pages: new Set(), violations: [] };
async function audit(where) {
  const url = page.url();
  if (!url.startsWith(base)) return;
  const key = new URL(url).pathname;
  if (a11y.pages.has(key)) return;
  a11y.pages.add(key);
  await page.addScriptTag({ path: axePath });
  const found = await page.evaluate(async () => {
    const r = await window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } });
    return r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
  });
  for (const v of found) a11y.violations.push({ where, path: key, ...v });
}
// What each step's page said, to hold the demo's printed steps to the pages' own words.
const seen = [];
async function check(name, fn) {
  try {
    await fn();
    seen.push(await page.locator('body').innerText().catch(() => ''));
    await audit(name);
    results.push(['ok', name, await shot(name)]);
    console.log(`ok   ${name}`);
  } catch (e) {
    await shot(`FAILED-${name}`).catch(() => {});
    console.log(`FAIL ${name}: ${e.message.split('\n')[0]}`);
    results.push(['fail', name]);
    throw e;
  }
}
async function expectText(text) {
  await page.getByText(text).first().waitFor();
}
// A new Outlook incoming server on the record form, saved.
async function newIncomingOutlook(name, user) {
  await page.goto(`${base}/web/record/fetchmail.server/new`);
  await page.getByLabel('Name', { exact: true }).fill(name);
  await page.getByLabel('Outlook OAuth Authentication', { exact: true }).check();
  await page.getByLabel('Username').fill(user);
  await page.getByRole('button', { name: 'Save' }).click();
  await expectText('Saved.');
}
// Someone enters the code shown on the record page on another device (a second page) and
// answers Microsoft's consent with `answer` ('Accept' or 'Cancel'); `done` is what it then says.
async function signInElsewhere(account, answer, done) {
  const said = await page.locator('body').innerText();
  const code = /enter the code ([A-Z0-9]{9})/.exec(said)?.[1];
  const uri = /(https?:\/\/\S+\/devicelogin)/.exec(said)?.[1];
  if (!code || !uri) throw new Error(`no code and link on the page: ${said.slice(0, 300)}`);
  const phone = await browser.newPage();
  await phone.goto(uri);
  await phone.getByLabel('Enter code').fill(code);
  await phone.getByRole('button', { name: 'Next' }).click();
  await phone.getByLabel('Account').fill(account);
  await phone.getByRole('button', { name: answer }).click();
  await phone.getByText(done).waitFor();
  await phone.close();
}
// Compose from the page's link, Send, and wait for the message in the stack's inbox@ maildir;
// with `file` ({name, mimeType, buffer}), chosen in the form's file field and checked in the
// delivered message (its name and its bytes, base64).
async function composeAndDeliver(from, subject, body, file) {
  await page.getByRole('link', { name: 'Compose' }).first().click();
  await page.getByLabel('From').fill(from);
  await page.getByLabel('To').fill('inbox@example.com');
  await page.getByLabel('Subject').fill(subject);
  await page.getByLabel('Body').fill(body);
  if (file) await page.getByLabel('Attachments').setInputFiles(file);
  await page.getByRole('button', { name: 'Send' }).click();
  await expectText('Queued');
  const delivered = (m) =>
    m.includes(subject) && (!file || (m.includes(file.name) && m.includes(file.buffer.toString('base64'))));
  await waitForFile(path.join(env.MAILDIR_ROOT, 'inbox@example.com', 'Maildir', 'new'), delivered, 30000);
}
async function waitForFile(dir, pred, ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try {
      for (const f of fs.readdirSync(dir)) if (pred(fs.readFileSync(path.join(dir, f), 'utf8'))) return;
    } catch { /* not there yet */ }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`no matching file in ${dir}`);
}

try {
  await check('login', async () => {
    await page.goto(`${base}/web/login`);
    await page.getByLabel('Email').fill('admin');
    await page.getByLabel('Password').fill(env.ADMIN_PASSWORD);
    await page.getByRole('button', { name: 'Log in' }).click();
    await expectText('Apps');
  });
  await check('apps-search-outlook', async () => {
    await page.getByRole('link', { name: 'Apps' }).first().click();
    await page.getByLabel('Search').fill('Outlook');
    await page.getByRole('button', { name: 'Search' }).click();
    await expectText('Microsoft Outlook');
  });
  await check('install-outlook', async () => {
    await page.getByRole('button', { name: 'Install' }).click();
    await expectText('Installed Microsoft Outlook');  // the module's display name
  });
  await check('settings-custom-email-servers', async () => {
    await page.getByRole('link', { name: 'Settings' }).first().click();
    await page.getByLabel('Custom Email Servers').check();
    await expectText('Outlook Credentials');  // revealed at once, as the seed says, before any Save
    await page.getByRole('button', { name: 'Save' }).click();
    await expectText('Outlook Credentials');
  });
  await check('settings-paste-credentials', async () => {
    await page.getByLabel('Client ID').fill(env.CLIENT_ID);
    await page.getByLabel('Client Secret', { exact: true }).fill(env.CLIENT_SECRET);
    await page.getByRole('button', { name: 'Save' }).click();
    await expectText('Settings saved.');
  });
  await check('settings-redirect-uri-to-register', async () => {
    const uri = await page.getByLabel('Redirect URI').inputValue();
    if (uri !== `${env.WEB_BASE_URL || base}/microsoft_outlook/confirm`) throw new Error(`Redirect URI shown: ${uri}`);
    await page.getByRole('button', { name: 'Copy' }).click();
  });
  await check('outgoing-server-new', async () => {
    await page.getByRole('link', { name: 'Outgoing Mail Servers' }).first().click();
    await page.getByRole('link', { name: 'New' }).click();
    await page.getByLabel('Name', { exact: true }).fill('Notifications');
    await page.getByLabel('Outlook', { exact: true }).check();
    await page.getByLabel('Username').fill('notifications@example.com');
    await page.getByRole('button', { name: 'Save' }).click();
    await expectText('Saved.');
    if ((await page.getByLabel('SMTP Server').inputValue()) !== 'smtp.office365.com') throw new Error('Outlook did not fill the host');
  });
  await check('outgoing-server-point-at-local-postfix', async () => {
    // The demo's Postfix stands in for smtp.office365.com.
    await page.getByLabel('SMTP Server').fill('127.0.0.1');
    await page.getByLabel('SMTP Port').fill(env.SMTP_PORT);
    await page.getByRole('button', { name: 'Save' }).click();
    await expectText('Saved.');
  });
  await check('connect-outlook-consent-page', async () => {
    await page.getByRole('button', { name: 'Connect your Outlook account' }).click();
    await expectText('Permissions requested');
  });
  await check('consent-accept-token-valid', async () => {
    await page.getByRole('button', { name: 'Accept' }).click();
    await expectText('Outlook Token Valid');
  });
  await check('test-connection', async () => {
    await page.getByRole('button', { name: 'Test Connection' }).click();
    await expectText('Connection Test Successful!');
  });
  await check('compose-and-deliver', async () => {
    await composeAndDeliver('notifications@example.com', 'Hello from the browser test', 'Sent through Outlook OAuth (simulated).',
                            { name: 'figures.csv', mimeType: 'text/csv', buffer: Buffer.from('quarter,total\nQ3,1200\n') });
  });
  await check('incoming-server-new', async () => {
    await page.getByRole('link', { name: 'Incoming Mail Servers' }).first().click();
    await page.getByRole('link', { name: 'New' }).click();
    await page.getByLabel('Name', { exact: true }).fill('Inbox');
    await page.getByLabel('Outlook OAuth Authentication', { exact: true }).check();
    await page.getByLabel('Username').fill('inbox@example.com');
    await page.getByRole('button', { name: 'Save' }).click();
    await expectText('Saved.');
    await page.getByLabel('Server Name').fill('127.0.0.1');
    await page.getByLabel('Port', { exact: true }).fill(env.IMAPS_PORT);
    await page.getByRole('button', { name: 'Save' }).click();
    await expectText('Saved.');
  });
  await check('incoming-connect-accept', async () => {
    await page.getByRole('button', { name: 'Connect your Outlook account' }).click();
    await page.getByRole('button', { name: 'Accept' }).click();
    await expectText('Outlook Token Valid');
  });
  await check('incoming-test-and-confirm', async () => {
    await page.getByRole('button', { name: 'Test & Confirm' }).click();
    await expectText('Connection Test Successful!');
  });
  await check('incoming-fetch-now', async () => {
    await page.getByRole('button', { name: 'Fetch Now' }).click();
    await expectText('new message(s) fetched');
  });
  await check('incoming-messages-list', async () => {
    await page.getByRole('link', { name: 'Incoming messages' }).first().click();
    await expectText('Hello from the browser test');
  });
  await check('emails-queue', async () => {
    await page.getByRole('link', { name: 'Emails' }).first().click();
    await expectText('Hello from the browser test');
    await expectText('Sent');
  });
  // Authenticated SMTP switched off in the tenant: the same server sends through Microsoft Graph.
  await check('outgoing-switch-to-graph-reconnect', async () => {
    await page.goto(`${base}/web/record/ir.mail_server/1`);
    await page.getByLabel('Outlook Transport').selectOption({ label: 'Microsoft Graph API' });
    await page.getByRole('button', { name: 'Save' }).click();
    await expectText('Saved.');
    // The consent given for Exchange's SMTP.Send does not cover Graph's Mail.Send: asked again.
    await page.getByRole('button', { name: 'Test Connection' }).click();
    await page.getByRole('button', { name: 'Connect your Outlook account' }).click();
    await page.getByRole('button', { name: 'Accept' }).click();
    await expectText('Outlook Token Valid');
  });
  await check('graph-test-connection', async () => {
    await page.getByRole('button', { name: 'Test Connection' }).click();
    await expectText('Connection Test Successful!');
  });
  await check('compose-and-deliver-through-graph', async () => {
    await composeAndDeliver('notifications@example.com', 'Through Microsoft Graph', 'Sent with POST /me/sendMail (simulated Graph).');
  });
  // IMAP switched off as well: the incoming server reads the Inbox through Graph.
  await check('incoming-switch-to-graph-reconnect', async () => {
    await page.goto(`${base}/web/record/fetchmail.server/1`);
    await page.getByLabel('Outlook Transport').selectOption({ label: 'Microsoft Graph API' });
    await page.getByRole('button', { name: 'Save' }).click();
    await expectText('Saved.');
    // The consent for Exchange's IMAP does not cover Graph's Mail.ReadWrite: the first fetch says
    // so on the badge, with the button that fixes it.
    await page.getByRole('button', { name: 'Fetch Now' }).click();
    await page.getByRole('button', { name: 'Connect your Outlook account' }).click();
    await page.getByRole('button', { name: 'Accept' }).click();
    await expectText('Outlook Token Valid');
  });
  await check('graph-fetch-now', async () => {
    await page.getByRole('button', { name: 'Fetch Now' }).click();
    await expectText('1 new message(s) fetched');  // the one sent through Graph; the first was read over IMAP
  });
  await check('graph-fetched-message-listed', async () => {
    await page.getByRole('link', { name: 'Incoming messages' }).first().click();
    await expectText('Through Microsoft Graph');
  });
  await check('system-parameters', async () => {
    await page.getByRole('link', { name: 'System Parameters' }).first().click();
    await expectText('microsoft_outlook.endpoint');
  });
  // A host with no browser of its own: the code is entered on another device (a second page).
  await check('device-code-shown', async () => {
    await newIncomingOutlook('Headless inbox', 'inbox@example.com');
    await page.getByRole('button', { name: 'Connect with a code' }).click();
    await expectText('enter the code');
  });
  await check('device-code-approved-elsewhere-record-follows', async () => {
    await signInElsewhere('inbox@example.com', 'Accept', 'You have signed in');
    await expectText('Outlook Token Valid');  // the record page reloaded itself until the outcome
  });
  await check('device-code-declined-elsewhere-record-says-so', async () => {
    await newIncomingOutlook('Declined inbox', 'declined@example.com');
    await page.getByRole('button', { name: 'Connect with a code' }).click();
    await signInElsewhere('declined@example.com', 'Cancel', 'You have declined');
    await expectText('was declined at Microsoft');  // the outcome, on the record
    await expectText('Outlook Token Missing');
  });
  await check('device-code-expired-record-says-so', async () => {
    await newIncomingOutlook('Forgotten inbox', 'forgotten@example.com');
    await page.getByRole('button', { name: 'Connect with a code' }).click();
    await expectText('enter the code');
    // Nobody signs in: the simulated identity platform lets the code expire now (15 minutes at Microsoft).
    const r = await fetch(`${env.IDP_URL}/_control/device`, { method: 'POST', body: JSON.stringify({ action: 'expire' }) });
    if (!r.ok) throw new Error(`expire control: ${r.status}`);
    await expectText('expired before anyone signed in with it');
    await expectText('Outlook Token Missing');
  });
  await check('consent-cancel-explained', async () => {
    await page.goto(`${base}/web/record/ir.mail_server/new`);
    await page.getByLabel('Name', { exact: true }).fill('Cancelled');
    await page.getByLabel('Outlook', { exact: true }).check();
    await page.getByLabel('Username').fill('cancel@example.com');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('button', { name: 'Connect your Outlook account' }).click();
    await page.getByRole('button', { name: 'Cancel' }).click();
    await expectText('Outlook connection failed');
    await expectText('cancelled at Microsoft');
  });
  await check('tampered-callback-403', async () => {
    const state = encodeURIComponent(JSON.stringify({ model: 'ir.mail_server', id: 1, nonce: 'forged', csrf_token: '0'.repeat(64) }));
    const r = await page.goto(`${base}/microsoft_outlook/confirm?code=forged&state=${state}`);
    if (r.status() !== 403) throw new Error(`expected 403, got ${r.status()}`);
    await expectText('403 Forbidden');
  });
  await check('delete-asks-cancel-keeps', async () => {
    await page.goto(`${base}/web/list/ir.mail_server`);
    await page.getByRole('link', { name: 'Cancelled', exact: true }).click();  // a list opens a record by its name
    await page.getByRole('button', { name: 'Delete' }).click();
    await expectText('This cannot be undone.');
    await page.getByRole('link', { name: 'Cancel' }).click();
    await page.getByRole('heading', { name: 'Cancelled', level: 2 }).waitFor();  // still there
  });
  await check('delete-confirmed-removes', async () => {
    await page.getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('button', { name: 'Confirm' }).click();
    await expectText('Deleted.');
    if (await page.getByRole('link', { name: 'Cancelled', exact: true }).count() !== 0) throw new Error('the deleted server is still listed');
  });
  await check('list-of-1000-pages', async () => {
    await page.goto(`${base}/web/list/mail.message`);
    await page.getByLabel('Search').fill('Bulk message');
    await page.getByRole('button', { name: 'Search' }).click();
    await expectText('Page 1');
    if (await page.locator('tbody tr').count() !== 100) throw new Error('a page is not 100 rows');
    await page.getByRole('link', { name: 'Next' }).click();
    await expectText('Page 2');
    await page.getByRole('link', { name: 'Previous' }).waitFor();
    if (!page.url().includes('q=Bulk')) throw new Error(`the search is lost on page 2: ${page.url()}`);
  });
  await check('message-html-no-script-no-remote-image', async () => {
    // The sender's tracker: a 1x1 GIF whose every request is counted.
    let tracked = 0;
    const gif = Buffer.from('R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==', 'base64');
    const tracker = http.createServer((req, res) => { tracked += 1; res.writeHead(200, { 'Content-Type': 'image/gif' }); res.end(gif); });
    await new Promise((resolve) => tracker.listen(Number(env.TRACKER_PORT), '127.0.0.1', resolve));
    try {
      await page.goto(`${base}/web/list/mail.message?q=Newsletter`);
      await page.getByRole('link', { name: 'Newsletter with a script' }).click();
      const frame = page.frameLocator('iframe[title="The message as HTML"]');
      await frame.locator('#greeting').waitFor();
      if (await frame.locator('body[data-ran]').count() !== 0) throw new Error("the message's script ran");
      if (tracked !== 0) throw new Error('the remote image was loaded unasked');
      await page.getByRole('link', { name: 'Load remote images' }).click();
      await frame.locator('#greeting').waitFor();
      for (let i = 0; i < 50 && tracked === 0; i++) await new Promise((r) => setTimeout(r, 100));
      if (tracked === 0) throw new Error('the remote image did not load when asked');
      if (await frame.locator('body[data-ran]').count() !== 0) throw new Error("the message's script ran");
    } finally {
      tracker.close();
    }
  });
  // The second provider, from Apps to a sent mail, through the simulated Google endpoint.
  await check('gmail-install', async () => {
    await page.goto(`${base}/web/apps`);
    await page.getByLabel('Search').fill('Gmail');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByRole('button', { name: 'Install' }).click();
    await expectText('Installed Gmail');
  });
  await check('gmail-settings-credentials', async () => {
    await page.getByRole('link', { name: 'Settings' }).first().click();
    const block = page.getByRole('group', { name: 'Gmail Credentials' });  // beside Outlook's, told apart
    await block.getByLabel('Client ID').fill(env.GOOGLE_CLIENT_ID);
    await block.getByLabel('Client Secret', { exact: true }).fill(env.GOOGLE_CLIENT_SECRET);
    await page.getByRole('button', { name: 'Save' }).click();
    await expectText('Settings saved.');
  });
  await check('gmail-outgoing-server-new', async () => {
    await page.getByRole('link', { name: 'Outgoing Mail Servers' }).first().click();
    await page.getByRole('link', { name: 'New' }).click();
    await page.getByLabel('Name', { exact: true }).fill('Gmail');
    // Two providers installed: the choice is a list (Username, Outlook, Gmail OAuth Authentication).
    await page.getByLabel('Authenticate with').selectOption({ label: 'Gmail OAuth Authentication' });
    await page.getByLabel('Username').fill('gmail-sender@example.com');
    await page.getByRole('button', { name: 'Save' }).click();
    await expectText('Saved.');
    if ((await page.getByLabel('SMTP Server').inputValue()) !== 'smtp.gmail.com') throw new Error('Gmail did not fill the host');
    await page.getByLabel('SMTP Server').fill('127.0.0.1');
    await page.getByLabel('SMTP Port').fill(env.SMTP_PORT);
    await page.getByRole('button', { name: 'Save' }).click();
    await expectText('Saved.');
  });
  await check('gmail-connect-google-consent-allow', async () => {
    await page.getByRole('button', { name: 'Connect your Gmail account' }).click();
    await expectText('Sign in');  // Google's page (simulated), the Username prefilled
    seen.push(await page.locator('body').innerText());
    await page.getByRole('button', { name: 'Allow' }).click();
    await expectText('Gmail Token Valid');
  });
  await check('gmail-test-connection', async () => {
    await page.getByRole('button', { name: 'Test Connection' }).click();
    await expectText('Connection Test Successful!');
  });
  await check('gmail-compose-and-deliver', async () => {
    await composeAndDeliver('gmail-sender@example.com', 'Hello through Gmail', 'Sent with a Google token (simulated).');
  });
  await check('demo-steps-name-what-the-pages-show', async () => {
    // scripts/run.sh prints scripts/demo-steps.txt: every label it quotes was on a page of the walk.
    const steps = fs.readFileSync(env.DEMO_STEPS, 'utf8');
    const labels = [...steps.matchAll(/"([^"]+)"/g)].map((m) => m[1]);
    if (labels.length < 20) throw new Error(`only ${labels.length} quoted labels in ${env.DEMO_STEPS}`);
    // The pages the steps pass through, as they are now, and what each step ended on (the
    // consent page, the results of Connect, Test and Fetch).
    const pages = [];
    for (const p of ['/web/apps?search=Outlook', '/web/settings', '/web/list/ir.mail_server', '/web/record/ir.mail_server/new',
                     '/web/record/ir.mail_server/1', '/web/compose', '/web/list/mail.mail', '/web/list/fetchmail.server',
                     '/web/record/fetchmail.server/new', '/web/record/fetchmail.server/1', '/web/list/mail.message']) {
      await page.goto(`${base}${p}`);
      pages.push(await page.locator('body').innerText());
    }
    const text = [...pages, ...seen].join('\n');
    const missing = labels.filter((l) => !text.includes(l));
    if (missing.length) throw new Error(`the demo's steps quote what no page showed: ${missing.join(', ')}`);
  });
  await check('accessibility-axe-core', async () => {
    // Every page an administrator uses, whether the walk passed it or not.
    for (const p of ['/web', '/web/apps', '/web/settings', '/web/list/ir.mail_server', '/web/record/ir.mail_server/1',
                     '/web/record/ir.mail_server/new', '/web/record/ir.mail_server/1/delete', '/web/list/fetchmail.server',
                     '/web/record/fetchmail.server/1', '/web/params', '/web/list/mail.mail', '/web/record/mail.mail/1',
                     '/web/list/mail.message', '/web/record/mail.message/1', '/web/compose', '/web/list/mail.mail?q=none']) {
      const r = await page.goto(`${base}${p}`);
      if (r.status() === 404) continue;
      await audit(`page ${p}`);
      // A screenshot of each page as an administrator sees it, and on a phone-width screen.
      const slug = p.replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, '');
      fs.mkdirSync(path.join(shots, 'pages'), { recursive: true });
      await page.screenshot({ path: path.join(shots, 'pages', `${slug}.png`), fullPage: true });
      const wide = page.viewportSize();
      await page.setViewportSize({ width: 390, height: 844 });
      await page.screenshot({ path: path.join(shots, 'pages', `${slug}-phone.png`), fullPage: true });
      await page.setViewportSize(wide);
    }
    // The audit can fail: an image without a text alternative, added for a moment, must be found.
    await page.goto(`${base}/web`);
    await page.addScriptTag({ path: axePath });
    const control = await page.evaluate(async () => {
      const img = document.createElement('img');
      img.id = 'axe-control';
      img.src = 'data:image/gif;base64,R0lGODlhAQABAAAAACw=';
      document.body.appendChild(img);
      const r = await window.axe.run({ include: [['#axe-control']] }, { runOnly: ['image-alt'] });
      img.remove();
      return r.violations.map((v) => `${v.impact} ${v.id}`);
    });
    if (!control.includes('critical image-alt')) throw new Error(`axe-core did not report a control violation: ${control}`);
    fs.writeFileSync(path.join(shots, 'axe-core.json'), JSON.stringify(a11y.violations, null, 1));
    console.log(`     axe-core: ${a11y.pages.size} pages, ${a11y.violations.length} serious or critical violations`);
    for (const v of a11y.violations.slice(0, 20)) console.log(`     ${v.impact} ${v.id} on ${v.path} (${v.where}): ${v.help}: ${v.nodes.join(', ')}`);
    if (a11y.violations.length) throw new Error(`${a11y.violations.length} serious or critical accessibility violations`);
  });
} catch (e) {
  process.exitCode = 1;
} finally {
  await browser.close();
  const ok = results.filter((r) => r[0] === 'ok').length;
  const failed = results.filter((r) => r[0] === 'fail').length;
  fs.writeFileSync(path.join(shots, 'steps.json'), JSON.stringify(results, null, 1));
  console.log(`browser: ${ok} passed, ${failed} failed`);
}
