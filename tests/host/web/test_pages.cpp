// The administrator's pages over real HTTP: generated from the registry, escaped, CSRF-checked.
#include "test_host.hpp"
#include "test_site.hpp"

#include "mail/attachment_store.hpp"
#include "records/params.hpp"
#include "records/record_service.hpp"

#include <catch2/catch.hpp>

#include <fstream>
#include <optional>

using juniper::test::csrf_from;
using juniper::test::TestHost;
using juniper::test::WebClient;
namespace records = juniper::records;

namespace {
struct Site : TestHost {
  juniper::test::TestSite site{*host};
  juniper::test::WebClient* browser = site.browser.get();
  std::string csrf(const std::string& path) { return csrf_from(browser->get(path).body); }
};
bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }
std::size_t count(Site& t, const std::string& model) {
  auto lock = t.host->db().lock();
  auto env = t.host->env();
  return records::list(env, model).size();
}
std::optional<std::string> param(Site& t, const std::string& key) {
  auto lock = t.host->db().lock();
  auto env = t.host->env();
  return records::param_get(env, key);
}
}  // namespace

TEST_CASE("Apps: search finds Microsoft Outlook; Install needs the CSRF token", "[web]") {
  Site t;
  const auto found = t.browser->get("/web/apps?search=Outlook");
  CHECK(found.status == 200);
  CHECK(has(found.body, "Microsoft Outlook"));
  CHECK_FALSE(has(found.body, "Test Base"));
  CHECK(t.browser->post("/web/apps/install", "name=microsoft_outlook&csrf_token=wrong").status == 403);
  CHECK(t.browser->post("/web/apps/install", "name=microsoft_outlook").status == 403);
  CHECK_FALSE(has(t.browser->get("/web/apps?search=Outlook").body, "Uninstall"));
  const auto ok = t.browser->post("/web/apps/install", "name=microsoft_outlook&csrf_token=" + t.csrf("/web/apps"));
  CHECK(ok.status == 303);
  CHECK(has(t.browser->get("/web/apps?search=Outlook").body, "Uninstall"));
  // The module's route is served at once (the route table was rebuilt).
  CHECK(t.browser->get("/microsoft_outlook/confirm?state=x&code=y").status == 403);
}

TEST_CASE("General Settings: Custom Email Servers reveals the Outlook Credentials; secrets never shown", "[web]") {
  Site t;
  {
    auto lock = t.host->db().lock();
    t.host->modules().install({"microsoft_outlook"});
  }
  auto page = t.browser->get("/web/settings").body;
  CHECK(has(page, "<label for=\"f_external_email_server_default\">"));
  // Present but hidden until the box is ticked (a script reveals it at once; Save does without one).
  CHECK(has(page,
            "<fieldset class=\"block\" data-shown-if=\"external_email_server_default\" hidden><legend>Outlook "
            "Credentials</legend>"));
  const std::string csrf = csrf_from(page);
  CHECK(
      t.browser
          ->post("/web/settings", "__present_external_email_server_default=1&external_email_server_default=1&csrf_token=" + csrf)
          .status == 200);
  page = t.browser->get("/web/settings").body;
  CHECK(has(page,
            "<fieldset class=\"block\" data-shown-if=\"external_email_server_default\"><legend>Outlook "
            "Credentials</legend>"));
  CHECK(has(page, "<label for=\"f_microsoft_outlook_client_identifier\">Client ID</label>"));
  CHECK(has(page, "type=\"password\" id=\"f_microsoft_outlook_client_secret\""));
  // With custom servers on, Settings links to both lists (beside the menu's links).
  CHECK(has(page,
            "<p><a href=\"/web/list/ir.mail_server\">Outgoing Mail Servers</a> | <a href=\"/web/list/fetchmail.server\">"
            "Incoming Mail Servers</a></p>"));
  t.browser->post("/web/settings",
                  "__present_external_email_server_default=1&external_email_server_default=1&"
                  "microsoft_outlook_client_identifier=abc&microsoft_outlook_client_secret=s3cr3t-value&csrf_token=" +
                      csrf);
  page = t.browser->get("/web/settings").body;
  CHECK(has(page, "value=\"abc\""));
  CHECK_FALSE(has(page, "s3cr3t-value"));
  CHECK_FALSE(has(t.browser->get("/web/params").body, "s3cr3t-value"));
}

TEST_CASE("record forms: generated, escaped, validated with the input kept", "[web]") {
  Site t;
  const std::string csrf = t.csrf("/web/record/ir.mail_server/new");
  const auto form = t.browser->get("/web/record/ir.mail_server/new").body;
  CHECK(has(form, "<label for=\"f_name\">Name</label>"));
  CHECK(has(form, "<label for=\"f_from_filter\">FROM Filtering</label>"));
  CHECK(has(form, "<label for=\"f_smtp_pass\">Password</label>"));
  CHECK(has(form, "id=\"f_active\" name=\"active\" value=\"1\" checked"));  // defaults shown on a new record
  // Limits explain themselves (Exchange Online's figures), and say what 0 means.
  CHECK(has(form, "Exchange Online allows 30 per mailbox; 0: no limit."));
  // Read-only fields with nothing to say take no room (no empty "Last Error" on an incoming server).
  std::int64_t inbox = 0;
  {
    auto lock = t.host->db().lock();
    auto env = t.host->env();
    inbox = records::create(env, "fetchmail.server",
                            {{"name", "Inbox"}, {"server", "imap.example.com"}, {"date", "2026-12-02T23:58:09Z"}});
  }
  const auto incoming = t.browser->get("/web/record/fetchmail.server/" + std::to_string(inbox)).body;
  CHECK(has(incoming, "Not Confirmed"));  // read-only with a value: shown
  CHECK_FALSE(has(incoming, "Last Error"));
  // Dates read as dates (the page's script shows them in the reader's time zone).
  CHECK(has(incoming, "<time datetime=\"2026-12-02T23:58:09Z\">2026-12-02 23:58 UTC</time>"));
  CHECK(has(incoming, "querySelectorAll('time[datetime]')"));
  {
    auto lock = t.host->db().lock();
    auto env = t.host->env();
    records::create(env, "mail.mail",
                    {{"email_from", "a@example.com"},
                     {"email_to", "b@example.com"},
                     {"subject", "Later"},
                     {"state", "outgoing"},
                     {"next_try", "2026-12-03T08:15:00Z"}});
  }
  CHECK(has(t.browser->get("/web/list/mail.mail").body, "<time datetime=\"2026-12-03T08:15:00Z\">2026-12-03 08:15 UTC</time>"));
  const auto created = t.browser->post("/web/record/ir.mail_server/new",
                                       "name=%3Cscript%3Ealert(1)%3C%2Fscript%3E&smtp_host=127.0.0.1&smtp_port=25&"
                                       "smtp_pass=hunter2&csrf_token=" +
                                           csrf);
  CHECK(created.status == 303);
  const auto list = t.browser->get("/web/list/ir.mail_server").body;
  CHECK(has(list, "&lt;script&gt;alert(1)&lt;/script&gt;"));
  CHECK_FALSE(has(list, "<script>alert(1)</script>"));
  const auto rec = t.browser->get("/web/record/ir.mail_server/1").body;
  CHECK_FALSE(has(rec, "hunter2"));
  CHECK(has(rec, "Test Connection"));
  // A refused write: the message next to the form, what was typed kept.
  const auto bad = t.browser->post("/web/record/ir.mail_server/1", "name=Kept+Name&smtp_port=not-a-number&csrf_token=" + csrf);
  CHECK(bad.status == 400);
  CHECK(has(bad.body, "smtp_port"));
  CHECK(has(bad.body, "value=\"Kept Name\""));
  // A wrong CSRF token changes nothing.
  CHECK(t.browser->post("/web/record/ir.mail_server/1", "name=Changed&csrf_token=nope").status == 403);
  auto lock = t.host->db().lock();
  auto env = t.host->env();
  CHECK(records::read(env, "ir.mail_server", 1)["name"] == "<script>alert(1)</script>");
}

TEST_CASE("the Outlook checkbox sets the authentication, fills host and port; unchecked is login again", "[web]") {
  Site t;
  REQUIRE(t.browser->post("/web/apps/install", "name=microsoft_outlook&csrf_token=" + t.csrf("/web/apps")).status == 303);
  const std::string csrf = t.csrf("/web/record/ir.mail_server/new");
  const auto form = t.browser->get("/web/record/ir.mail_server/new").body;
  CHECK(has(form,
            "<label for=\"f_smtp_authentication\"><input type=\"checkbox\" id=\"f_smtp_authentication\" "
            "name=\"smtp_authentication\" value=\"outlook\"> Outlook</label>"));
  CHECK(has(t.browser->get("/web/record/fetchmail.server/new").body, "value=\"outlook\"> Outlook OAuth Authentication</label>"));
  const auto created = t.browser->post("/web/record/ir.mail_server/new",
                                       "name=Notifications&__present_smtp_authentication=1&smtp_authentication=outlook&"
                                       "smtp_user=notifications%40example.com&__present_active=1&active=1&csrf_token=" +
                                           csrf);
  REQUIRE(created.status == 303);
  {
    auto lock = t.host->db().lock();
    auto env = t.host->env();
    const auto rec = records::read(env, "ir.mail_server", 1);
    CHECK(rec["smtp_authentication"] == "outlook");
    CHECK(rec["smtp_host"] == "smtp.office365.com");
    CHECK(rec["smtp_port"] == 587);
  }
  const auto outlook_form = t.browser->get("/web/record/ir.mail_server/1").body;
  CHECK(has(outlook_form, "value=\"outlook\" checked> Outlook"));
  // The module's fields (shown_if smtp_authentication=outlook) appear on Outlook servers only.
  CHECK(has(outlook_form, "Outlook Transport"));
  CHECK(has(outlook_form, "Microsoft Graph API"));
  // ...and the host's Password (shown_if smtp_authentication=login) does not: nothing to type there.
  CHECK_FALSE(has(outlook_form, "f_smtp_pass"));
  // Odoo's sections; the module's fields in a section named after the module; the actions and
  // Delete in a header bar above the fields.
  const auto section = [&](const std::string& legend, const std::string& field) {
    const auto open = outlook_form.find("<fieldset><legend>" + legend + "</legend>");
    const auto close = outlook_form.find("</fieldset>", open);
    const auto at = outlook_form.find(field, open);
    return open != std::string::npos && at != std::string::npos && at < close;
  };
  CHECK(section("Connection Information", "f_smtp_host"));
  CHECK(section("Security and Authentication", "f_smtp_user"));
  CHECK(section("Limits", "f_max_per_minute"));
  CHECK(section("Microsoft Outlook", "Outlook Transport"));
  const auto bar = outlook_form.find("<div class=\"actions header-bar\">");
  REQUIRE(bar != std::string::npos);
  CHECK(outlook_form.find(">Test Connection</button>", bar) < outlook_form.find("<fieldset>"));
  CHECK(outlook_form.find(">Delete</button>", bar) < outlook_form.find("<fieldset>"));
  CHECK(has(outlook_form, "<span class=\"badge muted\" data-field=\"microsoft_outlook_token_status\">Outlook Token Missing"));
  // The badge's colour is the tone the module declared for the value (SDK 1.4), not a host rule.
  for (const auto& [value, cls] : {std::pair{"valid", "ok"}, std::pair{"refresh_failed", "error"}}) {
    {
      auto lock = t.host->db().lock();
      auto env = t.host->env();
      records::write(env, "ir.mail_server", 1, {{"microsoft_outlook_token_status", value}});
    }
    CHECK(has(t.browser->get("/web/record/ir.mail_server/1").body,
              std::string("<span class=\"badge ") + cls + "\" data-field=\"microsoft_outlook_token_status\">"));
  }
  CHECK(has(t.browser->get("/web/list/ir.mail_server").body, "<td>TLS (STARTTLS)</td>"));  // lists show labels, not values
  // Unchecked: the hidden marker without the box means "not Outlook".
  CHECK(t.browser->post("/web/record/ir.mail_server/1", "__present_smtp_authentication=1&csrf_token=" + csrf).status == 303);
  auto lock = t.host->db().lock();
  auto env = t.host->env();
  CHECK(records::read(env, "ir.mail_server", 1)["smtp_authentication"] == "login");
  const auto login_form = t.browser->get("/web/record/ir.mail_server/1").body;
  CHECK_FALSE(has(login_form, "Outlook Transport"));
  CHECK_FALSE(has(login_form, "Outlook Token"));
  CHECK(has(login_form, "<label for=\"f_smtp_pass\">Password</label>"));
}

TEST_CASE("System Parameters and Compose", "[web]") {
  Site t;
  const std::string csrf = t.csrf("/web/params");
  CHECK(has(t.browser->post("/web/params", "key=mail.catchall.domain&value=example.com&csrf_token=" + csrf).body, "example.com"));
  CHECK(has(t.browser->post("/web/params/delete", "key=mail.catchall.domain&csrf_token=" + csrf).body, "Deleted"));
  const auto refused =
      t.browser->post("/web/compose", "from=a%40example.com&to=not+an+address&subject=x&body=y&csrf_token=" + csrf);
  CHECK(refused.status == 400);  // refused, with the reason and the input kept
  CHECK(has(refused.body, "invalid To address"));
  CHECK(has(refused.body, "value=\"not an address\""));
  const auto queued =
      t.browser->post("/web/compose", "from=a%40example.com&to=b%40example.com&subject=Hi&body=y&csrf_token=" + csrf);
  CHECK(queued.status == 303);
  CHECK(has(queued.location, "/web/record/mail.mail/1"));
  CHECK(has(t.browser->get("/web/list/mail.mail").body, "Outgoing"));
  WebClient anonymous(t.site.base_url());
  CHECK(anonymous.get("/web/params").status == 303);  // to the login page
}

TEST_CASE("every state-changing form refuses a missing or wrong CSRF token and changes nothing", "[web][abuse]") {
  Site t;
  REQUIRE(t.browser->post("/web/apps/install", "name=microsoft_outlook&csrf_token=" + t.csrf("/web/apps")).status == 303);
  {
    auto lock = t.host->db().lock();
    auto env = t.host->env();
    records::create(env, "ir.mail_server", {{"name", "Target"}, {"smtp_host", "127.0.0.1"}});
    records::param_set(env, "mail.catchall.domain", "example.com");
  }
  auto snapshot = [&] {
    auto lock = t.host->db().lock();
    return t.snapshot();
  };
  const auto before = snapshot();
  const std::vector<std::pair<std::string, std::string>> forms = {
      {"/web/apps/install", "name=test_base"},
      {"/web/apps/uninstall", "name=microsoft_outlook"},
      {"/web/settings", "__present_external_email_server_default=1&external_email_server_default=1"},
      {"/web/record/ir.mail_server/new", "name=Intruder&smtp_host=evil.example"},
      {"/web/record/ir.mail_server/1", "name=Changed"},
      {"/web/record/ir.mail_server/1/delete", ""},
      {"/web/record/ir.mail_server/1/action/test_connection", ""},
      {"/web/params", "key=mail.default.from&value=attacker"},
      {"/web/params/delete", "key=mail.catchall.domain"},
      {"/web/compose", "email_from=a%40example.com&email_to=b%40example.com&subject=s&body=b"},
      {"/web/logout", ""}};
  for (const auto& [path, form] : forms) {
    for (const std::string token : {"", "&csrf_token=wrong", "&csrf_token="}) {
      INFO(path << " with '" << token << "'");
      CHECK(t.browser->post(path, form + token).status == 403);
    }
  }
  CHECK(snapshot() == before);
  CHECK(t.browser->get("/web/params").status == 200);  // still logged in: the tokenless logout did nothing
  // A GET cannot log out either (an image on another site).
  CHECK(t.browser->get("/web/logout").status != 303);
  CHECK(t.browser->get("/web/params").status == 200);
  const auto out = t.browser->post("/web/logout", "csrf_token=" + t.csrf("/web/params"));
  CHECK(out.status == 303);
  CHECK(t.browser->get("/web/params").status == 303);  // to the login page
}

TEST_CASE("login starts a new session: the token of the session before login no longer works", "[web][abuse]") {
  TestHost h;
  juniper::test::TestSite site{*h.host};
  WebClient anon(site.base_url());
  const std::string before_login = csrf_from(anon.get("/web/login").body);
  REQUIRE_FALSE(before_login.empty());
  REQUIRE(anon.login("admin", "admin-password"));
  // A fixed (planted) pre-login session would still accept its token; a rotated one does not.
  CHECK(anon.post("/web/params", "key=k1&value=v&csrf_token=" + before_login).status == 403);
  CHECK(anon.post("/web/params", "key=k1&value=v&csrf_token=" + csrf_from(anon.get("/web/params").body)).status == 200);
}

TEST_CASE("a login name with line breaks cannot forge log lines", "[web][abuse]") {
  TestHost h;
  juniper::test::TestSite site{*h.host};
  WebClient anon(site.base_url());
  const std::string csrf = csrf_from(anon.get("/web/login").body);
  CHECK(
      anon.post("/web/login", "login=x%0D%0A2026-01-01T00%3A00%3A00Z+info+web%3A+forged&password=p&csrf_token=" + csrf).status ==
      401);
  std::ifstream in(h.dir / "juniper.log");
  std::string line, all;
  bool forged = false;
  while (std::getline(in, line)) {
    all += line + "\n";
    forged = forged || line.starts_with("2026-01-01T00:00:00Z");
  }
  INFO(all);
  CHECK(all.find("failed login for 'x\\r\\n2026-01-01T00:00:00Z info web: forged'") != std::string::npos);
  CHECK_FALSE(forged);
}

TEST_CASE("a script in any field shown renders as text on every list and form", "[web][abuse]") {
  Site t;
  const std::string xss = "<script>alert(1)</script>";
  {
    auto lock = t.host->db().lock();
    auto env = t.host->env();
    // Every text-like field of every record type the pages show (bypassing form validation:
    // the values could come from a module, a fetched message or a server's reply).
    for (const auto& [name, type] : env.registry.types()) {
      nlohmann::json v = nlohmann::json::object();
      for (const auto& f : type.fields) {
        using FT = juniper::records::FieldType;
        if (f.type == FT::chars || f.type == FT::text) v[f.name] = xss + f.name;
      }
      if (v.empty()) continue;
      try {
        records::create(env, type.name, v);
      } catch (const std::exception& e) {
        FAIL_CHECK(type.name << ": " << e.what());
      }
    }
    records::param_set(env, "xss.param", xss);
  }
  std::vector<std::string> pages = {"/web",        "/web/apps",    "/web/settings",
                                    "/web/params", "/web/compose", "/web/params/delete?key=%3Cscript%3Ealert(1)%3C%2Fscript%3E"};
  {
    auto lock = t.host->db().lock();
    auto env = t.host->env();
    for (const auto& [name, type] : env.registry.types()) {
      pages.push_back("/web/list/" + type.name);
      pages.push_back("/web/record/" + type.name + "/1");
      pages.push_back("/web/record/" + type.name + "/1/delete");  // the confirmation names the record
    }
  }
  for (const auto& p : pages) {
    const auto r = t.browser->get(p);
    INFO(p << " -> " << r.status);
    CHECK_FALSE(has(r.body, "<script>alert(1)"));
  }
  CHECK(has(t.browser->get("/web/list/mail.message").body, "&lt;script&gt;alert(1)&lt;/script&gt;subject"));
}

TEST_CASE("Delete on a record asks first: Cancel keeps it, only the confirmed POST with the token deletes", "[web]") {
  Site t;
  {
    auto lock = t.host->db().lock();
    auto env = t.host->env();
    records::create(env, "ir.mail_server", {{"name", "Old <Relay>"}, {"smtp_host", "127.0.0.1"}});
  }
  const auto form = t.browser->get("/web/record/ir.mail_server/1").body;
  // The form's Delete only leads to the confirmation (a GET); no form posts to delete from here.
  CHECK(has(form, "<form method=\"get\" action=\"/web/record/ir.mail_server/1/delete\"><button type=\"submit\">Delete</button>"));
  CHECK_FALSE(has(form, "method=\"post\" action=\"/web/record/ir.mail_server/1/delete\""));
  const auto confirm = t.browser->get("/web/record/ir.mail_server/1/delete");
  REQUIRE(confirm.status == 200);
  CHECK(has(confirm.body, "Delete Outgoing Mail Server \u201cOld &lt;Relay&gt;\u201d? This cannot be undone."));
  CHECK(has(confirm.body,
            "<form method=\"post\" action=\"/web/record/ir.mail_server/1/delete\"><input type=\"hidden\" "
            "name=\"csrf_token\""));
  CHECK(has(confirm.body, "<button type=\"submit\">Confirm</button> <a href=\"/web/record/ir.mail_server/1\">Cancel</a>"));
  CHECK(count(t, "ir.mail_server") == 1);  // showing the question deleted nothing
  // Cancel: back to the record, still there.
  CHECK(t.browser->get("/web/record/ir.mail_server/1").status == 200);
  CHECK(count(t, "ir.mail_server") == 1);
  // The confirming POST without (or with a wrong) token is refused and changes nothing.
  CHECK(t.browser->post("/web/record/ir.mail_server/1/delete", "").status == 403);
  CHECK(t.browser->post("/web/record/ir.mail_server/1/delete", "csrf_token=wrong").status == 403);
  CHECK(count(t, "ir.mail_server") == 1);
  // Confirm: the page's own form (its token) deletes.
  const auto done = t.browser->post("/web/record/ir.mail_server/1/delete", "csrf_token=" + csrf_from(confirm.body));
  CHECK(done.status == 303);
  CHECK(has(done.location, "/web/list/ir.mail_server"));
  CHECK(count(t, "ir.mail_server") == 0);
}

TEST_CASE("Delete on a system parameter asks first; protected parameters cannot be deleted", "[web]") {
  Site t;
  {
    auto lock = t.host->db().lock();
    auto env = t.host->env();
    records::param_set(env, "mail.catchall.domain", "example.com");
  }
  const auto secret_before = param(t, "database.secret");
  REQUIRE(secret_before);
  const auto list = t.browser->get("/web/params").body;
  CHECK(has(list,
            "<form method=\"get\" action=\"/web/params/delete\"><input type=\"hidden\" name=\"key\" "
            "value=\"mail.catchall.domain\"><button type=\"submit\">Delete</button></form>"));
  CHECK_FALSE(has(list, "value=\"database.secret\""));  // no Delete offered for it
  const auto confirm = t.browser->get("/web/params/delete?key=mail.catchall.domain");
  REQUIRE(confirm.status == 200);
  CHECK(has(confirm.body, "Delete system parameter \u201cmail.catchall.domain\u201d? This cannot be undone."));
  CHECK(has(confirm.body,
            "<input type=\"hidden\" name=\"key\" value=\"mail.catchall.domain\"><button type=\"submit\">"
            "Confirm</button> <a href=\"/web/params\">Cancel</a>"));
  CHECK(param(t, "mail.catchall.domain") == "example.com");  // asking (or cancelling) deletes nothing
  CHECK(t.browser->post("/web/params/delete", "key=mail.catchall.domain").status == 403);
  CHECK(param(t, "mail.catchall.domain") == "example.com");
  const std::string csrf = csrf_from(confirm.body);
  const auto done = t.browser->post("/web/params/delete", "key=mail.catchall.domain&csrf_token=" + csrf);
  CHECK(done.status == 200);
  CHECK(has(done.body, "Deleted mail.catchall.domain."));
  CHECK_FALSE(param(t, "mail.catchall.domain"));
  // database.secret: no confirmation page, and a POST with a valid token is refused too.
  const auto ask = t.browser->get("/web/params/delete?key=database.secret");
  CHECK(ask.status == 403);
  CHECK(has(ask.body, "is protected"));
  const auto refused = t.browser->post("/web/params/delete", "key=database.secret&csrf_token=" + csrf);
  CHECK(refused.status == 403);
  CHECK(has(refused.body, "The system parameter database.secret is protected"));
  CHECK(t.browser->post("/web/params", "key=database.secret&value=guessed&csrf_token=" + csrf).status == 403);
  CHECK(param(t, "database.secret") == secret_before);
}

namespace {
// `n` outgoing servers "Relay 1".."Relay n", then `extra` if given, in one transaction.
void relays(Site& t, int n, const nlohmann::json& extra = nullptr) {
  auto lock = t.host->db().lock();
  auto env = t.host->env();
  juniper::Transaction tr(t.host->db().session());
  for (int i = 1; i <= n; ++i)
    juniper::records::create(env, "ir.mail_server", {{"name", "Relay " + std::to_string(i)}, {"smtp_host", "127.0.0.1"}});
  if (!extra.is_null()) juniper::records::create(env, "ir.mail_server", extra);
  tr.commit();
}

// Rows of a list page.
std::size_t rows(const std::string& page) {
  std::size_t n = 0;
  for (auto p = page.find("<tr><td>"); p != std::string::npos; p = page.find("<tr><td>", p + 1)) ++n;
  return n;
}
}  // namespace

TEST_CASE("lists come a page at a time, with Previous and Next", "[web][list]") {
  Site t;
  relays(t, 250);
  const auto first = t.browser->get("/web/list/ir.mail_server").body;
  CHECK(rows(first) == 100);
  CHECK(has(first, "Relay 1<"));
  CHECK_FALSE(has(first, "Relay 101<"));
  CHECK(has(first, "?page=2\">Next</a>"));
  CHECK_FALSE(has(first, "Previous"));
  const auto last = t.browser->get("/web/list/ir.mail_server?page=3").body;
  CHECK(rows(last) == 50);
  CHECK(has(last, "Relay 250<"));
  CHECK(has(last, "?page=2\">Previous</a>"));
  CHECK_FALSE(has(last, "Next"));
  CHECK(rows(t.browser->get("/web/list/ir.mail_server?page=x%3Cscript").body) == 100);  // junk: the first page
}

TEST_CASE("lists search and sort in the database, and their pages keep both", "[web][list]") {
  Site t;
  relays(t, 250, {{"name", "Backup 50%_off"}, {"smtp_host", "smtp.Example.NET"}});
  auto first_name = [](const std::string& page) {
    const auto row = page.find("<tr><td>");
    auto cell = page.find("</td><td>", row) + 9;
    if (page.compare(cell, 3, "<a ") == 0) cell = page.find('>', cell) + 1;  // the name is a link to the record
    return page.substr(cell, page.find('<', cell) - cell);
  };
  const auto found = t.browser->get("/web/list/ir.mail_server?q=BACKUP").body;  // any case
  CHECK(rows(found) == 1);
  CHECK(has(found, "Backup 50%_off"));
  CHECK(has(found, "<input id=\"q\" name=\"q\" type=\"search\" value=\"BACKUP\">"));
  CHECK(rows(t.browser->get("/web/list/ir.mail_server?q=example.net").body) == 1);  // another listed column
  CHECK(rows(t.browser->get("/web/list/ir.mail_server?q=%25").body) == 1);          // % and _ are literal, not wildcards
  CHECK(rows(t.browser->get("/web/list/ir.mail_server?q=0_").body) == 0);
  CHECK(rows(t.browser->get("/web/list/ir.mail_server?q=relay").body) == 100);  // 250 found, a page of them
  const auto none = t.browser->get("/web/list/ir.mail_server?q=%3Cscript%3E").body;
  CHECK(rows(none) == 0);
  CHECK(has(none, "Nothing matches &ldquo;&lt;script&gt;&rdquo;"));

  const auto by_name = t.browser->get("/web/list/ir.mail_server?sort=name").body;
  CHECK(first_name(by_name) == "Backup 50%_off");
  CHECK(has(by_name, "<th aria-sort=\"ascending\"><a href=\"/web/list/ir.mail_server?sort=name&amp;dir=desc\">Name</a>"));
  const auto desc = t.browser->get("/web/list/ir.mail_server?sort=name&dir=desc").body;
  CHECK(first_name(desc) == "Relay 99");
  CHECK(has(desc, "aria-sort=\"descending\""));
  CHECK(has(desc, "href=\"/web/list/ir.mail_server?sort=name&amp;dir=desc&amp;page=2\">Next</a>"));  // the pager keeps it
  const auto searched_page = t.browser->get("/web/list/ir.mail_server?q=relay&sort=name&dir=desc&page=3").body;
  CHECK(rows(searched_page) == 50);
  CHECK(has(searched_page, "?q=relay&amp;sort=name&amp;dir=desc&amp;page=2\">Previous</a>"));
  // Only a listed column sorts: a secret, an unknown name or SQL is the usual order.
  for (const char* junk : {"smtp_pass", "nope", "name%3BDROP%20TABLE%20ir_mail_server"})
    CHECK(first_name(t.browser->get(std::string("/web/list/ir.mail_server?sort=") + junk).body) == "Relay 1");
}

TEST_CASE("Emails list why a mail waits and until when (paced, throttled), long reasons cut", "[web][list]") {
  Site t;
  const std::string paced =
      "paced: Outgoing server \u201cNotifications\u201d takes at most 30 mails per minute (Max Mails per Minute); "
      "this mail goes in 41 s";
  {
    auto lock = t.host->db().lock();
    auto env = t.host->env();
    juniper::Transaction tr(t.host->db().session());
    const auto id = records::create(env, "mail.mail",
                                    {{"email_from", "shop@example.com"}, {"email_to", "p@example.org"}, {"subject", "waits"}});
    t.host->db().session() << "UPDATE mail_mail SET failure_reason = :r, next_try = '2030-01-01T12:00:41Z' WHERE id = :id",
        soci::use(paced), soci::use(id);
    const std::string long_reason = "throttled: " + std::string(400, 'x');
    const auto other = records::create(env, "mail.mail", {{"email_from", "shop@example.com"}, {"subject", "long"}});
    t.host->db().session() << "UPDATE mail_mail SET failure_reason = :r WHERE id = :id", soci::use(long_reason), soci::use(other);
    tr.commit();
  }
  const auto list = t.browser->get("/web/list/mail.mail").body;
  CHECK(has(list, ">Failure Reason</a></th>"));
  CHECK(has(list, ">Next Try</a></th>"));
  CHECK(has(list, "takes at most 30 mails per minute"));
  CHECK(has(list, "2030-01-01T12:00:41Z"));
  CHECK(has(list, std::string(149, 'x') + "\u2026</td>"));  // a line's worth, not 400 characters
  CHECK_FALSE(has(list, std::string(160, 'x')));
}

TEST_CASE(
    "records read at a glance: a heading and breadcrumb, related records by name with a link, no New where the host "
    "writes",
    "[web][pages]") {
  Site t;
  std::int64_t server = 0, mail = 0;
  {
    auto lock = t.host->db().lock();
    auto env = t.host->env();
    juniper::Transaction tr(t.host->db().session());
    server = records::create(env, "ir.mail_server", {{"name", "Relay <Paris>"}, {"smtp_host", "127.0.0.1"}});
    records::create(env, "ir.mail_server", {{"name", "Relay Lyon"}, {"smtp_host", "127.0.0.1"}});
    mail = records::create(env, "mail.mail",
                           {{"email_from", "shop@example.com"}, {"subject", "Invoice 7"}, {"mail_server_id", server}});
    tr.commit();
  }
  const std::string link = "<a href=\"/web/record/ir.mail_server/" + std::to_string(server) + "\">Relay &lt;Paris&gt;</a>";
  const auto page = t.browser->get("/web/record/mail.mail/" + std::to_string(mail)).body;
  CHECK(has(page, "<p class=\"breadcrumb\"><a href=\"/web/list/mail.mail\">Emails</a> / Invoice 7</p><h2>Invoice 7</h2>"));
  // Editable: a select of the servers by name, the current one selected.
  CHECK(has(page, "<option value=\"" + std::to_string(server) + "\" selected>Relay &lt;Paris&gt;</option>"));
  CHECK(has(page, ">Relay Lyon</option>"));
  const auto list = t.browser->get("/web/list/mail.mail").body;
  CHECK(has(list, link));                               // the server's name, not its id
  CHECK_FALSE(has(list, "/web/record/mail.mail/new"));  // Compose writes mails
  CHECK(t.browser->get("/web/record/mail.mail/new").status == 404);
  CHECK(t.browser->get("/web/record/mail.message/new").status == 404);
  CHECK(has(t.browser->get("/web/list/ir.mail_server").body, "/web/record/ir.mail_server/new\">New</a>"));
  const auto fresh = t.browser->get("/web/record/ir.mail_server/new").body;
  CHECK(has(fresh, "<h2>New Outgoing Mail Server</h2>"));
}

TEST_CASE("an incoming message reads as a message; its HTML runs no script and loads nothing from elsewhere", "[web]") {
  Site t;
  std::int64_t id = 0;
  {
    auto lock = t.host->db().lock();
    auto env = t.host->env();
    const nlohmann::json atts =
        nlohmann::json::array({{{"filename", "scan <1>.pdf"}, {"content_type", "application/pdf"}, {"size", 20480}}});
    id = records::create(env, "mail.message",
                         {{"email_from", "Bob <bob@example.org>"},
                          {"email_to", "inbox@example.com"},
                          {"subject", "Quarterly figures"},
                          {"date", "2026-12-01 09:30:00"},  // no zone: UTC, as the host writes
                          {"body_text", "Hello,\nthe <figures> are attached."},
                          {"body_html", "<p>Hello</p><script>alert(1)</script><img src=\"http://tracker.example/pixel.png\">"},
                          {"attachments", atts.dump()}});
  }
  const std::string base = "/web/record/mail.message/" + std::to_string(id);
  const auto page = t.browser->get(base).body;
  CHECK(has(page, "<dt>From</dt><dd>Bob &lt;bob@example.org&gt;</dd>"));
  // The exact value carries its zone, so the page's script never reads it as local time.
  CHECK(has(page, "<dt>Date</dt><dd><time datetime=\"2026-12-01T09:30:00Z\">2026-12-01 09:30 UTC</time></dd>"));
  CHECK(has(page, "the &lt;figures&gt; are attached.</pre>"));
  CHECK(has(page, "<iframe sandbox src=\"" + base + "/html\""));
  CHECK(has(page, "<li>scan &lt;1&gt;.pdf (application/pdf, 20 kB)</li>"));
  CHECK_FALSE(has(page, "<script>alert(1)</script>"));  // never inline in the page itself
  const auto html = t.browser->get(base + "/html");
  CHECK(html.status == 200);
  CHECK(has(html.body, "<p>Hello</p>"));
  // The browser's sandbox: no script, no remote image (a read receipt for the sender).
  CHECK(html.headers.at("content-security-policy") == "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:");
  CHECK(html.headers.at("x-frame-options") == "SAMEORIGIN");
  // Remote images only when asked: a button on the page, then the frame's policy lets images in
  // (still no script).
  CHECK(has(page, "<a href=\"" + base + "?remote=1\">Load remote images</a>"));
  const auto asked = t.browser->get(base + "?remote=1").body;
  CHECK(has(asked, "<iframe sandbox src=\"" + base + "/html?remote=1\""));
  CHECK(has(asked, "<a href=\"" + base + "\">Block them again</a>"));
  const auto remote = t.browser->get(base + "/html?remote=1");
  CHECK(remote.headers.at("content-security-policy") ==
        "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data: https: http:");
  WebClient anonymous(t.site.base_url());
  const auto refused = anonymous.get(base + "/html");  // behind the login like every record
  CHECK(refused.status == 303);
  CHECK_FALSE(has(refused.body, "<p>Hello</p>"));
}

TEST_CASE("a fetched message's kept attachments download under their names, never as a page of the site", "[web]") {
  Site t;
  std::int64_t id = 0;
  const std::string html_attachment = "<script>alert(document.cookie)</script>";
  {
    auto lock = t.host->db().lock();
    auto env = t.host->env();
    const nlohmann::json atts =
        nlohmann::json::array({{{"filename", "report \"Q4\" é.html"},
                                {"content_type", "text/html"},
                                {"size", html_attachment.size()},
                                {"stored", true}},
                               {{"filename", "big.bin"}, {"content_type", "application/octet-stream"}, {"size", 10}}});
    id = records::create(env, "mail.message", {{"subject", "Report"}, {"attachments", atts.dump()}});
    juniper::mail::store_attachment(env, id, 0, html_attachment, juniper::mail::Owner::message);
  }
  const std::string base = "/web/record/mail.message/" + std::to_string(id);
  const auto page = t.browser->get(base).body;
  CHECK(has(page, "<li><a href=\"" + base + "/attachment/0\" download>report &quot;Q4&quot; é.html</a> (text/html, 1 kB)</li>"));
  CHECK(has(page, "<li>big.bin (application/octet-stream, 1 kB)</li>"));  // not kept: no link
  CHECK(has(page, "Attachments (names and sizes only: the files stay in the mailbox):"));
  const auto got = t.browser->get(base + "/attachment/0");
  CHECK(got.status == 200);
  CHECK(got.body == html_attachment);
  CHECK(got.headers.at("content-type") == "application/octet-stream");
  CHECK(got.headers.at("content-disposition") == "attachment; filename*=UTF-8''report%20%22Q4%22%20%C3%A9.html");
  CHECK(got.headers.at("x-content-type-options") == "nosniff");
  CHECK(got.headers.at("content-security-policy") == "sandbox; default-src 'none'");
  CHECK(t.browser->get(base + "/attachment/1").status == 404);  // names and sizes only
  CHECK(t.browser->get(base + "/attachment/2").status == 404);
  CHECK(t.browser->get(base + "/attachment/x").status == 404);
  WebClient anonymous(t.site.base_url());
  CHECK(anonymous.get(base + "/attachment/0").status == 303);  // behind the login
}

TEST_CASE("a page for what does not exist answers 404, a failure 500 with a reference in the log", "[web]") {
  Site t;
  const auto no_type = t.browser->get("/web/list/no.such_model");
  CHECK(no_type.status == 404);
  CHECK(has(no_type.body, "unknown model &apos;no.such_model&apos;"));
  const auto no_record = t.browser->get("/web/record/ir.mail_server/424242");
  CHECK(no_record.status == 404);
  CHECK(has(no_record.body, "record ir.mail_server 424242 does not exist"));
  CHECK(t.browser->get("/web/record/ir.mail_server/424242/delete").status == 404);
  CHECK(t.browser->get("/web/record/mail.message/424242/attachment/0").status == 404);
}
