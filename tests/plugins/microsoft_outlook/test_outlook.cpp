// The Microsoft Outlook module end to end: settings, an Outlook server, Connect -> the simulated
// Microsoft consent -> /microsoft_outlook/confirm -> tokens (encrypted) -> mail through the real
// Postfix with XOAUTH2 validated by Dovecot -> fetch through the real Dovecot.
#include "outlook_fixture.hpp"

#include "app/alerts.hpp"
#include "core/errors.hpp"
#include "http/server.hpp"
#include "mail/fetcher.hpp"
#include "records/users.hpp"
#include "web/web_app.hpp"

#include <catch2/catch.hpp>

#include <atomic>

#include <ctime>
#include <thread>

using juniper::test::eventually;
using juniper::test::MailHost;
using juniper::test::query_value;
using juniper::test::unique_mailbox;
using juniper::test::WebClient;
using json = nlohmann::json;
namespace mail = juniper::mail;
namespace records = juniper::records;
using outlook_test::OutlookHost;

namespace {

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("connect an outgoing Outlook server and send through Postfix with XOAUTH2", "[outlook][e2e]") {
  OutlookHost t;
  const std::string mailbox = unique_mailbox("notifications");
  const auto id = t.outlook_server("Notifications", mailbox);
  const std::string url = t.connect_url(mail::kOutgoingServer, id);
  CHECK(has(url, "response_type=code"));
  CHECK(has(url, "code_challenge_method=S256"));
  CHECK(has(url, "redirect_uri=http%3A%2F%2F127.0.0.1%3A8069%2Fmicrosoft_outlook%2Fconfirm"));
  CHECK(has(url, "scope=offline_access%20https%3A%2F%2Foutlook.office.com%2FSMTP.Send"));
  CHECK(query_value(url, "login_hint") == mailbox);

  const auto confirmed = t.consent_and_confirm(url);
  CHECK(confirmed.status == 303);
  CHECK(has(confirmed.location, "/web/record/ir.mail_server/" + std::to_string(id)));

  auto lock = t.host->db().lock();
  auto e = t.env();
  const auto rec = records::read(e, mail::kOutgoingServer, id);
  CHECK(rec["microsoft_outlook_token_status"] == "valid");
  CHECK(rec["microsoft_outlook_refresh_token"] == "set");  // masked
  std::string raw;
  t.host->db().session() << "SELECT microsoft_outlook_refresh_token FROM ir_mail_server WHERE id = :id", soci::use(id),
      soci::into(raw);
  CHECK(raw.starts_with("gcm1:"));  // encrypted at rest

  const auto* test = e.registry.action(mail::kOutgoingServer, "test_connection");
  CHECK(test->invoke(e, id)["message"] == "Connection Test Successful!");

  t.param("mail.default.from", mailbox.substr(0, mailbox.find('@')));
  t.param("mail.catchall.domain", "example.com");
  const std::string rcpt = unique_mailbox("customer");
  const auto mail_id = t.send("\"John Doe\" <john@example.com>", rcpt, "Your order");
  CHECK(t.process().sent == 1);
  CHECK(t.mail(mail_id)["state"] == "sent");
  REQUIRE(eventually([&] { return t.stack.mailbox(rcpt).size() == 1; }));
  const std::string got = t.stack.mailbox(rcpt)[0];
  CHECK(has(got, "From: \"John Doe\" <" + mailbox + ">"));
  CHECK(has(got, "Return-Path: <" + mailbox + ">"));
  CHECK(has(t.stack.idp("/_control/state", ""), mailbox) == true);
}

TEST_CASE("per-user Outlook servers each with its own token, plus the notifications fallback", "[outlook][e2e]") {
  OutlookHost t;
  const std::string notif = unique_mailbox("notif");
  const std::string john = unique_mailbox("john");
  const auto notif_id = t.outlook_server("Notifications", notif);
  const auto john_id = t.outlook_server("John", john);
  CHECK(t.consent_and_confirm(t.connect_url(mail::kOutgoingServer, notif_id)).status == 303);
  CHECK(t.consent_and_confirm(t.connect_url(mail::kOutgoingServer, john_id)).status == 303);
  auto lock = t.host->db().lock();
  t.param("mail.default.from", notif.substr(0, notif.find('@')));
  t.param("mail.catchall.domain", "example.com");
  const std::string rcpt = unique_mailbox("partner");
  t.send("John <" + john + ">", rcpt, "from john");
  t.send("\"Bob\" <bob@other.org>", rcpt, "from bob");
  const auto r = t.process();
  CHECK(r.sent == 2);
  CHECK(r.connections == 2);  // one per server
  REQUIRE(eventually([&] { return t.stack.mailbox(rcpt).size() == 2; }));
  std::string all;
  for (const auto& m : t.stack.mailbox(rcpt)) all += m;
  CHECK(has(all, "From: John <" + john + ">"));
  CHECK(has(all, "From: \"Bob\" <" + notif + ">"));
}

TEST_CASE("an expired token is refreshed exactly once for 50 mails from 4 threads, and the rotated token is kept",
          "[outlook][refresh]") {
  OutlookHost t;
  const std::string mailbox = unique_mailbox("refresh");
  const auto id = t.outlook_server("Refresh", mailbox);
  t.write_server(id, {{"max_per_minute", 0}});  // about refreshing, not pacing: all 50 at once
  REQUIRE(t.consent_and_confirm(t.connect_url(mail::kOutgoingServer, id)).status == 303);
  std::string refresh_before;
  {
    auto lock = t.host->db().lock();
    auto e = t.env();
    refresh_before = records::read(e, mail::kOutgoingServer, id, records::Secrets::revealed)["microsoft_outlook_refresh_token"];
    const std::string rcpt = unique_mailbox("bulk");
    juniper::Transaction tr(t.host->db().session());
    for (int i = 0; i < 50; ++i) {
      mail::Draft d;
      d.email_from = mailbox;
      d.email_to = rcpt;
      d.subject = "n" + std::to_string(i);
      d.body_text = "x";
      mail::enqueue(e, d);
    }
    // The access token expires: locally and at the identity platform.
    records::write(e, mail::kOutgoingServer, id, {{"microsoft_outlook_access_token_expiration", 0}});
    tr.commit();
  }
  t.stack.idp("/_control/expire_access_tokens", "{}");
  const long before = t.refresh_requests();
  std::vector<std::thread> threads;
  std::atomic<std::size_t> sent{0};
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      auto lock = t.host->db().lock();
      auto e = t.env();
      mail::Sender s(e, t.host->modules().hooks(), t.conf());
      mail::SenderOptions o;
      o.batch = 13;
      o.limit = 13;
      sent += s.process(o).sent;
    });
  }
  for (auto& th : threads) th.join();
  {
    auto lock = t.host->db().lock();
    soci::rowset<soci::row> rs =
        (t.host->db().session().prepare
         << "SELECT state, COALESCE(failure_reason, ''), CAST(COUNT(*) AS TEXT) FROM mail_mail GROUP BY 1, 2");
    for (const auto& r : rs)
      UNSCOPED_INFO(r.get<std::string>(0) << ": " << r.get<std::string>(1) << " x" << r.get<std::string>(2));
  }
  CHECK(sent == 50);
  CHECK(t.refresh_requests() - before == 1);
  auto lock = t.host->db().lock();
  auto e = t.env();
  const auto rec = records::read(e, mail::kOutgoingServer, id, records::Secrets::revealed);
  CHECK(rec["microsoft_outlook_refresh_token"] != refresh_before);  // rotated and stored
  CHECK(rec["microsoft_outlook_token_status"] == "valid");
}

TEST_CASE("a revoked authorization: refresh_failed with the reason, mails kept waiting, released by reconnecting",
          "[outlook][refresh]") {
  OutlookHost t;
  const std::string mailbox = unique_mailbox("revoked");
  const auto id = t.outlook_server("Revoked", mailbox);
  REQUIRE(t.consent_and_confirm(t.connect_url(mail::kOutgoingServer, id)).status == 303);
  std::int64_t mail_id = 0;
  {
    auto lock = t.host->db().lock();
    mail_id = t.send(mailbox, unique_mailbox("x"), "waits");
    auto e = t.env();
    records::write(e, mail::kOutgoingServer, id, {{"microsoft_outlook_access_token_expiration", 0}});
  }
  t.stack.idp("/_control/revoke", json{{"user", mailbox}}.dump());
  {
    auto lock = t.host->db().lock();
    const auto r = t.process();
    CHECK(r.sent == 0);
    const auto m = t.mail(mail_id);
    CHECK(m["state"] == "outgoing");
    CHECK(m["attempts"] == 0);  // waiting, not burning retries
    CHECK(has(m["failure_reason"].get<std::string>(), "Reconnect the Outlook account of server \u201cRevoked\u201d"));
    auto e = t.env();
    const auto rec = records::read(e, mail::kOutgoingServer, id);
    CHECK(rec["microsoft_outlook_token_status"] == "refresh_failed");
    CHECK(has(rec["microsoft_outlook_token_error"].get<std::string>(), "reconnect"));
    // Before anyone notices mail has stopped: a warning, and one alert mail per incident a day.
    t.param("mail.alert.recipients", "admins@example.com");
    t.param("mail.default.from", "notifications");
    t.param("mail.catchall.domain", "example.com");
    const auto now = std::chrono::system_clock::now();
    const auto warnings = juniper::alerts::collect(e, t.host->modules().hooks(), now);
    REQUIRE(warnings.size() == 1);
    CHECK(has(warnings[0].text, "Outlook server \u201cRevoked\u201d cannot get a token"));
    CHECK(warnings[0].link == "/web/record/ir.mail_server/" + std::to_string(id));
    CHECK(juniper::alerts::mail_due(e, t.host->modules().hooks(), now) == 1);
    CHECK(juniper::alerts::mail_due(e, t.host->modules().hooks(), now + std::chrono::hours(1)) == 0);   // not per retry
    CHECK(juniper::alerts::mail_due(e, t.host->modules().hooks(), now + std::chrono::hours(25)) == 1);  // next day
    const auto alerts = records::search(e, mail::kMail, {{"email_to", "admins@example.com"}});
    CHECK(alerts.size() == 2);
  }
  // Reconnect: the Connect button is offered again, and the waiting mail goes out at once.
  REQUIRE(t.consent_and_confirm(t.connect_url(mail::kOutgoingServer, id)).status == 303);
  auto lock = t.host->db().lock();
  t.process();
  CHECK(t.mail(mail_id)["state"] == "sent");
  auto e = t.env();
  CHECK(juniper::alerts::collect(e, t.host->modules().hooks(), std::chrono::system_clock::now()).empty());  // fixed
}

TEST_CASE("the client secret's expiry: warned from 30 days before on every admin page, in /web/health and by mail",
          "[outlook][alerts]") {
  OutlookHost t;
  using namespace std::chrono;
  auto at = [](const char* iso) {
    std::tm tm{};
    strptime(iso, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return system_clock::from_time_t(timegm(&tm));
  };
  {
    auto lock = t.host->db().lock();
    auto e = t.env();
    auto& hooks = t.host->modules().hooks();
    records::setting_set(e, "microsoft_outlook_client_secret_expiry", "2030-01-21");
    CHECK(juniper::alerts::collect(e, hooks, at("2029-12-01T12:00:00Z")).empty());  // 50 days ahead: quiet
    const auto soon = juniper::alerts::collect(e, hooks, at("2030-01-01T12:00:00Z"));
    REQUIRE(soon.size() == 1);
    CHECK(has(soon[0].text, "expires on 2030-01-21 (in 19 days)"));
    CHECK(has(soon[0].text, "Certificates & secrets"));
    CHECK(soon[0].link == "/web/settings");
    const auto late = juniper::alerts::collect(e, hooks, at("2030-01-22T08:00:00Z"));
    REQUIRE(late.size() == 1);
    CHECK(has(late[0].text, "expired on 2030-01-21"));
    CHECK(late[0].key != soon[0].key);  // a new incident: mailed again even the same day
    t.param("mail.default.from", "notifications");
    t.param("mail.catchall.domain", "example.com");
    // No mail.alert.recipients: the administrators' own addresses.
    records::set_email(t.host->db(), "admin", "root@example.com");
    CHECK(juniper::alerts::mail_due(e, hooks, at("2030-01-01T12:00:00Z")) == 1);
    CHECK(records::search(e, mail::kMail, {{"email_to", "root@example.com"}}).size() == 1);
    t.param("mail.alert.recipients", "admins@example.com");
    CHECK(juniper::alerts::mail_due(e, hooks, at("2030-01-01T23:00:00Z")) == 0);
    CHECK(juniper::alerts::mail_due(e, hooks, at("2030-01-02T13:00:00Z")) == 1);
    CHECK(records::search(e, mail::kMail, {{"email_to", "admins@example.com"}}).size() == 1);
    // A certificate replaces the secret: nothing to warn about.
    records::setting_set(e, "microsoft_outlook_client_certificate", "(a certificate)");
    CHECK(juniper::alerts::collect(e, hooks, at("2030-01-01T12:00:00Z")).empty());
    records::setting_set(e, "microsoft_outlook_client_certificate", "");
    // The pages use the real clock: an expiry 5 days from today.
    const auto today = system_clock::to_time_t(system_clock::now() + hours(24 * 5));
    std::tm tm{};
    gmtime_r(&today, &tm);
    char day[16];
    std::strftime(day, sizeof day, "%Y-%m-%d", &tm);
    records::setting_set(e, "microsoft_outlook_client_secret_expiry", day);
  }
  const auto home = t.browser->get("/web");
  CHECK(has(home.body, "data-warning=\"microsoft_outlook.secret_expiry."));
  CHECK(has(home.body, "Fix it</a>"));
  CHECK(has(t.browser->get("/web/list/ir.mail_server").body, "The Outlook Client Secret expires on"));
  const auto health = json::parse(t.browser->get("/web/health").body);
  CHECK(health["status"] == "ok");  // mail still flows
  REQUIRE(health["warnings"].size() == 1);
  CHECK(has(health["warnings"][0]["text"].get<std::string>(), "expires on"));
}

TEST_CASE("the identity platform answering 503 on refresh: the mail is retried with back-off, then sent",
          "[outlook][refresh][faults]") {
  OutlookHost t;
  const auto [id, mail_id, rcpt] = t.queued_with_expired_token("Flaky", "flaky");
  t.stack.idp("/_control/inject_error", json{{"endpoint", "token"}, {"grant_type", "refresh_token"}, {"status", 503}}.dump());
  auto lock = t.host->db().lock();
  CHECK(t.process().sent == 0);
  auto m = t.mail(mail_id);
  CHECK(m["state"] == "outgoing");
  CHECK(m["attempts"] == 1);  // a temporary failure burns an attempt and backs off
  CHECK_FALSE(m["next_try"].is_null());
  CHECK(has(m["failure_reason"].get<std::string>(), "temporarily unavailable"));
  CHECK(t.process_at(std::chrono::system_clock::now() + mail::backoff(1)).sent == 1);  // the back-off has passed
  auto e = t.env();
  CHECK(records::read(e, mail::kOutgoingServer, id)["microsoft_outlook_token_status"] == "valid");
  CHECK(eventually([&] { return t.stack.mailbox(rcpt).size() == 1; }));
}

TEST_CASE("the identity platform timing out on refresh: the mail waits for a retry, then goes out",
          "[outlook][refresh][faults]") {
  OutlookHost t;
  const auto [id, mail_id, rcpt] = t.queued_with_expired_token("Slow", "slowidp");
  // The token endpoint holds the request past the module's timeout, then drops it.
  t.stack.idp("/_control/inject_error",
              json{{"endpoint", "token"}, {"grant_type", "refresh_token"}, {"hang_seconds", 12}}.dump());
  auto lock = t.host->db().lock();
  CHECK(t.process().sent == 0);
  auto m = t.mail(mail_id);
  CHECK(m["state"] == "outgoing");
  CHECK(m["attempts"] == 1);
  CHECK(has(m["failure_reason"].get<std::string>(), "could not be reached"));
  CHECK(t.process_at(std::chrono::system_clock::now() + mail::backoff(1)).sent == 1);
  CHECK(eventually([&] { return t.stack.mailbox(rcpt).size() == 1; }));
}

TEST_CASE("a hanging identity platform holds no database lock: others write meanwhile", "[outlook][refresh][faults]") {
  OutlookHost t;
  const auto [id, mail_id, rcpt] = t.queued_with_expired_token("Hanging", "hangidp");
  t.stack.idp("/_control/inject_error",
              json{{"endpoint", "token"}, {"grant_type", "refresh_token"}, {"hang_seconds", 12}}.dump());
  const long before = t.refresh_requests();
  // The sender waits on the identity platform in its own thread, with its own connection.
  std::atomic<bool> sent_back{false};
  std::thread sender([&] {
    auto lease = t.host->db().lock();
    (void)t.process();
    sent_back = true;
  });
  REQUIRE(eventually([&] { return t.refresh_requests() > before; }, 10000));  // the refresh is on the wire
  // Meanwhile a page (another connection) writes and commits at once: no write lock is held
  // across the refresh (before, this waited for the identity platform's 10 s timeout).
  const auto t0 = std::chrono::steady_clock::now();
  {
    auto lease = t.host->db().lock();
    auto e = t.env();
    juniper::Transaction tr(t.host->db().session());
    records::param_set(e, "hanging.idp.probe", "written");
    tr.commit();
  }
  const auto waited = std::chrono::steady_clock::now() - t0;
  // ...and the pages answer, the refresh still hanging: health and an admin page.
  const auto p0 = std::chrono::steady_clock::now();
  CHECK(t.browser->get("/web/health").status == 200);
  const auto emails = t.browser->get("/web/list/mail.mail");
  CHECK(emails.status == 200);
  CHECK(has(emails.body, "Emails"));
  const auto paged = std::chrono::steady_clock::now() - p0;
  CHECK_FALSE(sent_back);  // the pages came while the refresh hung
  sender.join();
  CHECK(waited < std::chrono::seconds(2));  // liveness bounds far above a normal write or page (ms)
  CHECK(paged < std::chrono::seconds(2));
  auto lease = t.host->db().lock();
  CHECK(t.mail(mail_id)["state"] == "outgoing");  // the mail waits for a retry
}

TEST_CASE("SMTP refusing a freshly refreshed token: the mail fails once with the likely causes", "[outlook][refresh]") {
  OutlookHost t;
  const std::string mailbox = unique_mailbox("signedin");
  const auto id = t.outlook_server("Mismatch", mailbox);
  REQUIRE(t.consent_and_confirm(t.connect_url(mail::kOutgoingServer, id)).status == 303);
  auto lock = t.host->db().lock();
  // The Username no longer matches the account that signed in: Dovecot refuses the token (535).
  const std::string other = unique_mailbox("other");
  {
    auto e = t.env();
    records::write(e, mail::kOutgoingServer, id, {{"smtp_user", other}, {"from_filter", other}});
  }
  const long before = t.refresh_requests();
  const auto mail_id = t.send(other, unique_mailbox("nobody"), "refused");
  CHECK(t.process().sent == 0);
  CHECK(t.refresh_requests() - before == 1);  // one fresh token was tried, not a loop
  const auto m = t.mail(mail_id);
  CHECK(m["state"] == "exception");
  const std::string reason = m["failure_reason"];
  INFO(reason);
  CHECK(has(reason, "rejected the OAuth access token"));  // the 334 challenge with the 401 status
  CHECK(has(reason, "5.7.139"));
  CHECK(has(reason, "Username may not match"));
  CHECK_FALSE(has(reason, "Bearer"));
}

TEST_CASE("every refused callback answers 403 or the explained error page, and writes nothing", "[outlook][callback]") {
  OutlookHost t;
  const auto id = t.outlook_server("Guarded", unique_mailbox("guarded"));
  const std::string url = t.connect_url(mail::kOutgoingServer, id);
  const auto ms = t.browser->get(url + "&auto=1");
  const std::string back = ms.location.substr(std::string("http://127.0.0.1:8069").size());
  const std::string state = query_value(back, "state");
  const std::string code = query_value(back, "code");
  auto snapshot = [&] {
    auto lock = t.host->db().lock();
    return t.snapshot();
  };
  const auto before = snapshot();
  auto enc = [](const std::string& s) { return juniper::http::url_encode(s); };
  json tampered = json::parse(state);
  tampered["id"] = id + 1;
  json wrong_model = json::parse(state);
  wrong_model["model"] = "res.users";
  json bad_csrf = json::parse(state);
  bad_csrf["csrf_token"] = std::string(64, '0');

  CHECK(t.browser->get("/microsoft_outlook/confirm?code=" + code + "&state=" + enc(tampered.dump())).status == 403);
  CHECK(t.browser->get("/microsoft_outlook/confirm?code=" + code + "&state=" + enc(wrong_model.dump())).status == 403);
  CHECK(t.browser->get("/microsoft_outlook/confirm?code=" + code + "&state=" + enc(bad_csrf.dump())).status == 403);
  CHECK(t.browser->get("/microsoft_outlook/confirm?code=" + code + "&state=not-json").status == 403);
  CHECK(t.browser->get("/microsoft_outlook/confirm?state=" + enc(state)).status == 403);  // missing code
  const auto denied = t.browser->get("/microsoft_outlook/confirm?error=access_denied&error_description=" +
                                     enc("AADSTS65004: User declined to consent to access the app.") + "&state=" + enc(state));
  CHECK(denied.status == 400);  // explained, and not a success
  CHECK(has(denied.body, "cancelled at Microsoft"));
  CHECK(has(denied.body, "/web/record/ir.mail_server/" + std::to_string(id)));
  WebClient anonymous(t.site.base_url());
  const auto anon = anonymous.get("/microsoft_outlook/confirm?code=" + code + "&state=" + enc(state));
  CHECK(anon.status == 303);
  CHECK(has(anon.location, "/web/login?redirect="));
  CHECK(snapshot() == before);

  // The genuine callback works once; replaying it is refused and writes nothing more.
  CHECK(t.browser->get(back).status == 303);
  const auto after = snapshot();
  CHECK(t.browser->get(back).status == 403);
  CHECK(snapshot() == after);
}

TEST_CASE("a connect started in one browser session is refused in another, which writes nothing", "[outlook][callback]") {
  OutlookHost t;
  const auto id = t.outlook_server("Bound", unique_mailbox("bound"));
  const std::string record = "/web/record/ir.mail_server/" + std::to_string(id);
  // The button, as the browser sends it: the record form's token, then the start link.
  const std::string csrf = juniper::test::csrf_from(t.browser->get(record).body);
  const auto clicked = t.browser->post(record + "/action/outlook_connect", "csrf_token=" + csrf);
  REQUIRE(clicked.status == 303);
  REQUIRE(has(clicked.location, "/microsoft_outlook/start?nonce="));
  WebClient other(t.site.base_url());  // the same admin, logged in from another browser
  REQUIRE(other.login("admin", "admin-password"));
  const auto to_microsoft = t.browser->get(clicked.location);
  REQUIRE(to_microsoft.status == 303);
  CHECK(has(to_microsoft.location, "/authorize?"));
  CHECK(other.get(clicked.location).status == 403);  // a start link binds once
  const auto ms = t.browser->get(to_microsoft.location + "&auto=1");
  REQUIRE(ms.status == 302);
  const std::string back = ms.location.substr(std::string("http://127.0.0.1:8069").size());
  auto snapshot = [&] {
    auto lock = t.host->db().lock();
    return t.snapshot();
  };
  const auto before = snapshot();
  const auto refused = other.get(back);
  CHECK(refused.status == 403);
  CHECK(has(refused.body, "403 Forbidden"));
  CHECK(snapshot() == before);
  WebClient fresh(t.site.base_url());  // logged in after the flow started: no binding either
  REQUIRE(fresh.login("admin", "admin-password"));
  CHECK(fresh.get(back).status == 403);
  CHECK(snapshot() == before);
  // The browser that started it finishes it.
  const auto confirmed = t.browser->get(back);
  CHECK(confirmed.status == 303);
  CHECK(has(confirmed.location, record));
  auto lock = t.host->db().lock();
  auto e = t.env();
  CHECK(records::read(e, mail::kOutgoingServer, id)["microsoft_outlook_token_status"] == "valid");
}

TEST_CASE("Outlook constraints refuse with the reference's messages", "[outlook]") {
  OutlookHost t;
  auto lock = t.host->db().lock();
  auto e = t.env();
  CHECK_THROWS_WITH(
      records::create(e, mail::kOutgoingServer,
                      {{"name", "P"}, {"smtp_authentication", "outlook"}, {"smtp_user", "a@example.com"}, {"smtp_pass", "x"}}),
      Catch::Contains("Please leave the password field empty for Outlook mail server \u201cP\u201d"));
  CHECK_THROWS_WITH(
      records::create(
          e, mail::kOutgoingServer,
          {{"name", "S"}, {"smtp_authentication", "outlook"}, {"smtp_user", "a@example.com"}, {"smtp_encryption", "ssl"}}),
      Catch::Contains("Incorrect Connection Security for Outlook mail server \u201cS\u201d"));
  CHECK_THROWS_WITH(records::create(e, mail::kOutgoingServer, {{"name", "U"}, {"smtp_authentication", "outlook"}}),
                    Catch::Contains("Please fill the \"Username\" field"));
  CHECK_THROWS_WITH(records::create(e, mail::kIncomingServer,
                                    {{"name", "I"}, {"server_type", "outlook"}, {"user", "a@example.com"}, {"is_ssl", false}}),
                    Catch::Contains("SSL is required for server \u201cI\u201d"));
  // Without credentials, Connect is refused with the reference's sentence.
  records::setting_set(e, "microsoft_outlook_client_secret", "");
  const auto id = records::create(e, mail::kOutgoingServer,
                                  {{"name", "C"}, {"smtp_authentication", "outlook"}, {"smtp_user", "c@example.com"}});
  CHECK_THROWS_WITH(e.registry.action(mail::kOutgoingServer, "outlook_connect")->invoke(e, id),
                    Catch::Contains("Please configure your Outlook credentials in General Settings."));
}

TEST_CASE("an incoming Outlook server: connect, Test & Confirm, fetch", "[outlook][e2e][fetch]") {
  OutlookHost t;
  const std::string mailbox = unique_mailbox("inbox");
  const auto id = t.connected_incoming("outlook", mailbox, "outlook.office365.com", "IMAP.AccessAsUser.All");
  CHECK(t.confirm_and_fetch(id, mailbox, "Hello Outlook") == std::vector<std::string>{"Hello Outlook"});
}

TEST_CASE("uninstalling the module turns Outlook servers back and deactivates them", "[outlook]") {
  OutlookHost t;
  const auto id = t.outlook_server("Gone", unique_mailbox("gone"));
  auto lock = t.host->db().lock();
  t.host->modules().uninstall({"microsoft_outlook"});
  auto e = t.env();
  const auto rec = records::read(e, mail::kOutgoingServer, id);
  CHECK(rec["smtp_authentication"] == "login");
  CHECK(rec["active"] == false);
  CHECK_FALSE(rec.contains("microsoft_outlook_refresh_token"));
  CHECK_FALSE(t.host->db().columns("ir_mail_server").contains("microsoft_outlook_access_token"));
}
