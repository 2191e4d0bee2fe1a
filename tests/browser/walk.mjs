// The seed's click-by-click guide, walked in headless Chromium as a person would: by visible
// labels and button names. Screenshots of every step go to $SHOTS.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';

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
async function check(name, fn) {
  try {
    await fn();
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
    await page.getByRole('link', { name: 'Outgoing Email Servers' }).first().click();
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
    await page.getByRole('link', { name: 'Compose' }).first().click();
    await page.getByLabel('From').fill('notifications@example.com');
    await page.getByLabel('To').fill('inbox@example.com');
    await page.getByLabel('Subject').fill('Hello from the browser test');
    await page.getByLabel('Body').fill('Sent through Outlook OAuth (simulated).');
    await page.getByRole('button', { name: 'Send' }).click();
    await expectText('Queued');
    await waitForFile(path.join(env.MAILDIR_ROOT, 'inbox@example.com', 'Maildir', 'new'),
                      (m) => m.includes('Hello from the browser test'), 30000);
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
    await page.getByRole('link', { name: 'Compose' }).first().click();
    await page.getByLabel('From').fill('notifications@example.com');
    await page.getByLabel('To').fill('inbox@example.com');
    await page.getByLabel('Subject').fill('Through Microsoft Graph');
    await page.getByLabel('Body').fill('Sent with POST /me/sendMail (simulated Graph).');
    await page.getByRole('button', { name: 'Send' }).click();
    await expectText('Queued');
    await waitForFile(path.join(env.MAILDIR_ROOT, 'inbox@example.com', 'Maildir', 'new'),
                      (m) => m.includes('Through Microsoft Graph'), 30000);
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
} catch (e) {
  process.exitCode = 1;
} finally {
  await browser.close();
  const ok = results.filter((r) => r[0] === 'ok').length;
  const failed = results.filter((r) => r[0] === 'fail').length;
  fs.writeFileSync(path.join(shots, 'steps.json'), JSON.stringify(results, null, 1));
  console.log(`browser: ${ok} passed, ${failed} failed`);
}
