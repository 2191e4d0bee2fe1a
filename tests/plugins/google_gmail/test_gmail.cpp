// The Gmail module end to end against the stack's simulated Google endpoint and the real Postfix
// and Dovecot: Connect -> Google's consent -> /google_gmail/confirm -> tokens (encrypted) ->
// XOAUTH2 send and fetch; refresh with rotation; a revoked grant explained; refused callbacks.
#include "provider_fixture.hpp"

#include "http/request.hpp"
#include "records/users.hpp"

#include <catch2/catch.hpp>

using juniper::test::eventually;
using juniper::test::MailHost;
using juniper::test::query_value;
using juniper::test::unique_mailbox;
using juniper::test::WebClient;
using json = nlohmann::json;
namespace mail = juniper::mail;
namespace records = juniper::records;

namespace {

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }
constexpr const char* kBase = juniper::test::kProviderBaseUrl;

struct GmailHost : juniper::test::ProviderHost {
  GmailHost()
      : ProviderHost({"google_gmail", "gmail_connect", "", [](MailHost& h) {
                        auto e = h.env();
                        records::setting_set(e, "google_gmail_client_identifier", h.stack["DEMO_GOOGLE_CLIENT_ID"]);
                        records::setting_set(e, "google_gmail_client_secret", h.stack["DEMO_GOOGLE_CLIENT_SECRET"]);
                        h.param("google_gmail.endpoint", h.stack["GOOGLE_URL"]);
                        h.stack.idp("/_control/google", R"({"auto_consent": true})");  // Allow, as the login_hint account
                      }}) {}

  std::int64_t gmail_server(const std::string& name, const std::string& user) {
    auto lock = host->db().lock();
    auto e = env();
    const auto id =
        records::create(e, mail::kOutgoingServer, {{"name", name}, {"smtp_authentication", "gmail"}, {"smtp_user", user}});
    const auto rec = records::read(e, mail::kOutgoingServer, id);
    CHECK(rec["smtp_host"] == "smtp.gmail.com");
    CHECK(rec["smtp_port"] == 587);
    CHECK(rec["smtp_encryption"] == "starttls");
    CHECK(rec["google_gmail_token_status"] == "missing");
    CHECK(rec["from_filter"] == user);  // follows the username
    records::write(e, mail::kOutgoingServer, id, {{"smtp_host", "127.0.0.1"}, {"smtp_port", stack["SMTP_PORT"]}});
    return id;
  }

  std::string raw_refresh_token(std::int64_t id) {
    auto lock = host->db().lock();
    std::string raw;
    host->db().session() << "SELECT google_gmail_refresh_token FROM ir_mail_server WHERE id = :id", soci::use(id),
        soci::into(raw);
    return raw;
  }
  void expire_access_token(std::int64_t id) {
    auto lock = host->db().lock();
    auto e = env();
    records::write(e, mail::kOutgoingServer, id, {{"google_gmail_access_token_expiration", 0}});
  }
};

}  // namespace

TEST_CASE("connect an outgoing Gmail server and send through Postfix with XOAUTH2", "[gmail][e2e]") {
  GmailHost t;
  const std::string mailbox = unique_mailbox("gmail-sender");
  const auto id = t.gmail_server("Gmail", mailbox);
  const std::string url = t.connect_url(mail::kOutgoingServer, id);
  CHECK(url.starts_with(t.stack["GOOGLE_URL"] + "o/oauth2/v2/auth?"));
  CHECK(query_value(url, "scope") == "https://mail.google.com/");
  CHECK(query_value(url, "access_type") == "offline");
  CHECK(query_value(url, "prompt") == "consent");
  CHECK(query_value(url, "code_challenge_method") == "S256");
  CHECK(query_value(url, "redirect_uri") == std::string(kBase) + "/google_gmail/confirm");
  CHECK(query_value(url, "login_hint") == mailbox);

  const auto confirmed = t.consent_and_confirm(url);
  CHECK(confirmed.status == 303);
  CHECK(has(confirmed.location, "/web/record/ir.mail_server/" + std::to_string(id)));
  const auto rec = t.server(id);
  CHECK(rec["google_gmail_token_status"] == "valid");
  CHECK(rec["google_gmail_refresh_token"] == "set");    // masked
  CHECK(t.raw_refresh_token(id).starts_with("gcm1:"));  // encrypted at rest

  auto lock = t.host->db().lock();
  auto e = t.env();
  CHECK(e.registry.action(mail::kOutgoingServer, "test_connection")->invoke(e, id)["message"] == "Connection Test Successful!");
  const std::string rcpt = unique_mailbox("gmail-rcpt");
  const auto mail_id = t.send(mailbox, rcpt, "Through Gmail");
  CHECK(t.process().sent == 1);
  CHECK(t.mail(mail_id)["state"] == "sent");
  REQUIRE(eventually([&] { return t.stack.mailbox(rcpt).size() == 1; }));
  CHECK(has(t.stack.mailbox(rcpt)[0], "Subject: Through Gmail"));
}

TEST_CASE("Gmail tokens: refreshed on expiry with the rotated refresh token kept; a revoked grant waits for a reconnect",
          "[gmail][refresh]") {
  GmailHost t;
  const std::string mailbox = unique_mailbox("gmail-refresh");
  const auto id = t.gmail_server("Refreshing", mailbox);
  REQUIRE(t.consent_and_confirm(t.connect_url(mail::kOutgoingServer, id)).status == 303);
  const std::string first = t.raw_refresh_token(id);
  t.stack.idp("/_control/google", R"({"rotate_refresh_tokens": true})");
  t.expire_access_token(id);
  std::int64_t mail_id = 0;
  {
    auto lock = t.host->db().lock();
    mail_id = t.send(mailbox, unique_mailbox("gmail-r1"), "after a refresh");
    CHECK(t.process().sent == 1);
  }
  CHECK(t.raw_refresh_token(id) != first);  // Google rotated it: the new one is stored
  CHECK(t.server(id)["google_gmail_token_status"] == "valid");

  // The grant revoked in the Google account: the mail waits with what to do, no attempt burnt.
  t.stack.idp("/_control/google", json{{"revoke_user", mailbox}}.dump());
  t.expire_access_token(id);
  {
    auto lock = t.host->db().lock();
    mail_id = t.send(mailbox, unique_mailbox("gmail-r2"), "after a revoke");
    CHECK(t.process().sent == 0);
    const auto m = t.mail(mail_id);
    INFO(m.dump());
    CHECK(m["state"] == "outgoing");
    CHECK(m["attempts"] == 0);
    CHECK(has(m["failure_reason"].get<std::string>(), "Connect your Gmail account again"));
  }
  const auto rec = t.server(id);
  CHECK(rec["google_gmail_token_status"] == "refresh_failed");
  CHECK(has(rec["google_gmail_token_error"].get<std::string>(), "expired or was revoked"));
  // Reconnecting releases the waiting mail at once.
  REQUIRE(t.consent_and_confirm(t.connect_url(mail::kOutgoingServer, id)).status == 303);
  auto lock = t.host->db().lock();
  CHECK(t.process().sent == 1);
  CHECK(t.mail(mail_id)["state"] == "sent");
}

TEST_CASE("an incoming Gmail server: connect, Test & Confirm, fetch", "[gmail][e2e][fetch]") {
  GmailHost t;
  const std::string mailbox = unique_mailbox("gmail-inbox");
  const auto id = t.connected_incoming("gmail", mailbox, "imap.gmail.com", "mail.google.com");
  CHECK(t.confirm_and_fetch(id, mailbox, "Hello Gmail") == std::vector<std::string>{"Hello Gmail"});
}

TEST_CASE("Gmail callbacks: a tampered state, another browser, a declined consent write nothing", "[gmail][callback]") {
  GmailHost t;
  const auto id = t.gmail_server("Bound", unique_mailbox("gmail-bound"));
  const std::string record = "/web/record/ir.mail_server/" + std::to_string(id);
  // The button as a browser sends it: the start link, bound to this browser, then Google.
  const std::string csrf = juniper::test::csrf_from(t.browser->get(record).body);
  const auto clicked = t.browser->post(record + "/action/gmail_connect", "csrf_token=" + csrf);
  REQUIRE(clicked.status == 303);
  REQUIRE(has(clicked.location, "/google_gmail/start?ticket="));
  const auto to_google = t.browser->get(clicked.location);
  REQUIRE(to_google.status == 303);
  const auto google = t.browser->get(to_google.location);
  REQUIRE(google.status == 302);
  const std::string back = google.location.substr(std::string(kBase).size());
  const std::string state = query_value(google.location, "state");
  auto snapshot = [&] {
    auto lock = t.host->db().lock();
    return t.snapshot();
  };
  const auto before = snapshot();
  WebClient other(t.site.base_url());  // the same admin in another browser
  REQUIRE(other.login("admin", "admin-password"));
  CHECK(other.get(back).status == 403);
  std::string tampered = state;
  tampered[tampered.find('|') + 1] = tampered[tampered.find('|') + 1] == '1' ? '2' : '1';  // another record id
  CHECK(t.browser->get("/google_gmail/confirm?code=x&state=" + juniper::http::url_encode(tampered)).status == 403);
  CHECK(t.browser->get("/google_gmail/confirm?code=x&state=nonsense").status == 403);
  std::string forged = clicked.location;  // the ticket's MAC, one digit changed
  forged.back() = forged.back() == '0' ? '1' : '0';
  CHECK(other.get(forged).status == 403);
  const auto declined = t.browser->get("/google_gmail/confirm?error=access_denied&state=" + juniper::http::url_encode(state));
  CHECK(declined.status == 400);
  CHECK(has(declined.body, "did not allow access"));
  CHECK(snapshot() == before);
  // The browser that started it finishes it.
  CHECK(t.browser->get(back).status == 303);
  CHECK(t.server(id)["google_gmail_token_status"] == "valid");
}

TEST_CASE("Gmail constraints refuse with the reference's messages", "[gmail]") {
  GmailHost t;
  auto lock = t.host->db().lock();
  auto e = t.env();
  CHECK_THROWS_WITH(
      records::create(e, mail::kOutgoingServer,
                      {{"name", "G"}, {"smtp_authentication", "gmail"}, {"smtp_user", "a@x.org"}, {"smtp_pass", "p"}}),
      Catch::Contains("Please leave the password field empty for Gmail mail server \u201cG\u201d"));
  CHECK_THROWS_WITH(records::create(e, mail::kOutgoingServer, {{"name", "G"}, {"smtp_authentication", "gmail"}}),
                    Catch::Contains("Please fill the \"Username\" field with your Gmail username"));
  CHECK_THROWS_WITH(records::create(e, mail::kIncomingServer,
                                    {{"name", "I"}, {"server_type", "gmail"}, {"user", "a@x.org"}, {"is_ssl", false}}),
                    Catch::Contains("SSL is required for the server \u201cI\u201d"));
}

TEST_CASE("Google's refusals of the code are explained with what to do, and store nothing", "[gmail][callback]") {
  GmailHost t;
  const auto id = t.gmail_server("Misconfigured", unique_mailbox("gmail-misconf"));
  {
    auto lock = t.host->db().lock();
    auto e = t.env();
    records::setting_set(e, "google_gmail_client_secret", "GOCSPX-not-the-secret");
  }
  const auto wrong_secret = t.consent_and_confirm(t.connect_url(mail::kOutgoingServer, id));
  CHECK(wrong_secret.status == 502);
  CHECK(has(wrong_secret.body, "Google does not accept the Gmail Client ID and Secret"));
  CHECK(has(wrong_secret.body, "Google Cloud Console"));
  CHECK_FALSE(has(wrong_secret.body, "GOCSPX-not-the-secret"));
  CHECK(t.server(id)["google_gmail_token_status"] == "missing");
  // Google unreachable: said so, nothing stored.
  {
    auto lock = t.host->db().lock();
    auto e = t.env();
    records::setting_set(e, "google_gmail_client_secret", t.stack["DEMO_GOOGLE_CLIENT_SECRET"]);
    t.param("google_gmail.endpoint", "http://127.0.0.1:1/google/");
  }
  const std::string url = t.connect_url(mail::kOutgoingServer, id);
  {
    auto lock = t.host->db().lock();
    t.param("google_gmail.endpoint", t.stack["GOOGLE_URL"]);
  }
  const auto google = t.browser->get(t.stack["GOOGLE_URL"] + url.substr(url.find("o/oauth2/v2/auth")));
  REQUIRE(google.status == 302);
  {
    auto lock = t.host->db().lock();
    t.param("google_gmail.endpoint", "http://127.0.0.1:1/google/");
  }
  const auto unreachable = t.browser->get(google.location.substr(std::string(kBase).size()));
  CHECK(unreachable.status == 502);
  CHECK(has(unreachable.body, "Google could not be reached"));
  CHECK(t.server(id)["google_gmail_token_status"] == "missing");
}
