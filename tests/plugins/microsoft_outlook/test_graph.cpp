// Outlook servers whose transport is Microsoft Graph: tokens for Graph's resource, the message
// sent as MIME through the simulated /me/sendMail and delivered into the real Dovecot, and what
// each of Graph's answers means for the mail.
#include "outlook_fixture.hpp"

#include "core/crypto.hpp"
#include "host/mail/smtp/fake_smtp.hpp"
#include "mail/mime/message.hpp"
#include "mail/queue.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>

using juniper::test::eventually;
using juniper::test::has;
using juniper::test::query_value;
using juniper::test::unique_mailbox;
using outlook_test::OutlookHost;
using json = nlohmann::json;
namespace mail = juniper::mail;
namespace records = juniper::records;

namespace {

struct GraphHost : OutlookHost {
  bool graph_configured = [this] {
    auto lock = host->db().lock();
    param("microsoft_outlook.graph_endpoint", stack["IDP_URL"] + "/v1.0/");
    return true;
  }();

  // A connected Outlook server sending through Graph, for `mailbox`.
  std::int64_t graph_server(const std::string& name, const std::string& mailbox) {
    const auto id = outlook_server(name, mailbox);
    write_server(id, {{"outlook_transport", "graph"}});
    const std::string url = connect_url(mail::kOutgoingServer, id);
    CHECK(has(url, "scope=offline_access%20https%3A%2F%2Fgraph.microsoft.com%2FMail.Send"));
    CHECK_FALSE(has(url, "SMTP.Send"));  // one resource per token request
    REQUIRE(consent_and_confirm(url).status == 303);
    return id;
  }
  // An incoming Outlook server reading `mailbox` through Graph (not yet connected).
  std::int64_t graph_inbox(const std::string& name, const std::string& mailbox) {
    auto lock = host->db().lock();
    auto e = env();
    return records::create(e, mail::kIncomingServer,
                           {{"name", name}, {"server_type", "outlook"}, {"user", mailbox}, {"outlook_transport", "graph"}});
  }
  json graph_counts() { return json::parse(stack.idp("/_control/graph", "")); }
  void inject(const json& fault) { stack.idp("/_control/inject_error", fault.dump()); }
};

}  // namespace

TEST_CASE("Graph: the message Juniper built goes out through /me/sendMail, Bcc included, no SMTP", "[outlook][graph]") {
  GraphHost t;
  const std::string mailbox = unique_mailbox("graph-sender");
  const auto id = t.graph_server("Graph", mailbox);
  {
    auto lock = t.host->db().lock();
    auto e = t.env();
    const auto rec = records::read(e, mail::kOutgoingServer, id);
    CHECK(rec["microsoft_outlook_token_status"] == "valid");
    const auto* test = e.registry.action(mail::kOutgoingServer, "test_connection");
    CHECK(has(test->invoke(e, id)["message"].get<std::string>(), "Connection Test Successful!"));
  }
  const std::string to = unique_mailbox("graph-to");
  const std::string hidden = unique_mailbox("graph-bcc");
  const long sends_before = t.graph_counts().value("sendmail_accepted", 0L);
  auto lock = t.host->db().lock();
  std::int64_t mail_id = 0;
  {
    auto e = t.env();
    mail::Draft d;
    d.email_from = mailbox;
    d.email_to = to;
    d.email_bcc = hidden;
    d.subject = "Through Graph";
    d.body_text = "Sent with Microsoft Graph";
    mail_id = mail::enqueue(e, d);
  }
  const auto report = t.process();
  CHECK(report.sent == 1);
  const auto m = t.mail(mail_id);
  CHECK(m["state"] == "sent");
  CHECK(t.graph_counts().value("sendmail_accepted", 0L) - sends_before == 1);
  REQUIRE(eventually([&] { return t.stack.mailbox(to).size() == 1 && t.stack.mailbox(hidden).size() == 1; }));
  const std::string got = t.stack.mailbox(to)[0];
  CHECK(has(got, "Message-ID: " + m["message_id"].get<std::string>()));
  CHECK(has(got, "Subject: Through Graph"));
  CHECK_FALSE(has(got, hidden));  // the Bcc header is gone on delivery
}

TEST_CASE("Graph: 429 with Retry-After makes the server's mails wait that long, no attempt counted", "[outlook][graph]") {
  GraphHost t;
  const std::string mailbox = unique_mailbox("graph-throttled");
  t.graph_server("Throttled", mailbox);
  t.inject({{"endpoint", "graph"},
            {"path", "sendMail"},
            {"status", 429},
            {"code", "ApplicationThrottled"},
            {"message", "Application is over its MailboxConcurrency limit."},
            {"retry_after", 120},
            {"count", 1}});
  auto lock = t.host->db().lock();
  const std::string rcpt = unique_mailbox("graph-throttled-rcpt");
  const auto a = t.send(mailbox, rcpt, "first");
  const auto b = t.send(mailbox, rcpt, "second");
  const auto report = t.process();
  CHECK(report.sent == 0);
  for (const auto id : {a, b}) {
    const auto m = t.mail(id);
    INFO(m.dump());
    CHECK(m["state"] == "outgoing");
    CHECK(m["attempts"] == 0);
    CHECK(has(m["failure_reason"].get<std::string>(), "ApplicationThrottled"));
    const auto wait = mail::age_of(m["next_try"].get<std::string>(), std::chrono::system_clock::now());
    CHECK(wait <= std::chrono::seconds(-100));  // next_try about 120 s ahead
  }
  CHECK(t.process().sent == 0);  // not due yet: nothing is asked of Graph
  CHECK(t.process_at(std::chrono::system_clock::now() + std::chrono::seconds(125)).sent == 2);  // Retry-After has passed
  CHECK(eventually([&] { return t.stack.mailbox(rcpt).size() == 2; }));
}

TEST_CASE("Graph: a 429 storm holds the server's mails run after run at Retry-After, one request per run, no attempt burned",
          "[outlook][graph]") {
  GraphHost t;
  const std::string mailbox = unique_mailbox("graph-storm");
  t.graph_server("Storm", mailbox);
  t.inject({{"endpoint", "graph"},
            {"path", "sendMail"},
            {"status", 429},
            {"code", "ApplicationThrottled"},
            {"message", "Application is over its MailboxConcurrency limit."},
            {"retry_after", 30},
            {"count", 3}});
  auto lock = t.host->db().lock();
  const std::string rcpt = unique_mailbox("graph-storm-rcpt");
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 10; ++i) ids.push_back(t.send(mailbox, rcpt, "storm " + std::to_string(i)));
  auto send_requests = [&] { return t.graph_counts()["requests"].value("POST /me/sendMail", 0L); };
  auto at = std::chrono::system_clock::now();  // the queue's clock, moved past each Retry-After
  for (int run = 0; run < 3; ++run) {
    CAPTURE(run);
    const long before = send_requests();
    CHECK(t.process_at(at).sent == 0);
    CHECK(send_requests() - before == 1);  // the first answer holds the rest: Graph is not hammered
    for (const auto id : ids) {
      const auto m = t.mail(id);
      CHECK(m["state"] == "outgoing");
      CHECK(m["attempts"] == 0);
      const auto wait = -mail::age_of(m["next_try"].get<std::string>(), at);
      CHECK(wait > std::chrono::seconds(20));  // Retry-After: 30
      CHECK(wait <= std::chrono::seconds(31));
    }
    CHECK(t.process_at(at + std::chrono::seconds(10)).sent == 0);  // not due: nothing asked
    CHECK(send_requests() - before == 1);
    at += std::chrono::seconds(32);  // Retry-After has passed
  }
  CHECK(t.process_at(at).sent == 10);
  for (const auto id : ids) CHECK(t.mail(id)["attempts"] == 0);
  CHECK(eventually([&] { return t.stack.mailbox(rcpt).size() == 10; }));
}

TEST_CASE(
    "Graph: Send As denied fails that mail with what to grant; a consent without Mail.Send waits for a reconnect, "
    "which releases it",
    "[outlook][graph]") {
  GraphHost t;
  const std::string mailbox = unique_mailbox("graph-delegate");
  const auto id = t.graph_server("Delegate", mailbox);
  const std::string shared = unique_mailbox("graph-shared");
  t.write_server(id, {{"from_filter", mailbox + "," + shared}});
  std::int64_t waiting = 0, other = 0;
  {
    auto lock = t.host->db().lock();
    const auto denied = t.send(shared, unique_mailbox("graph-denied-rcpt"), "as shared");
    t.process();
    const auto m = t.mail(denied);
    INFO(m.dump());
    CHECK(m["state"] == "exception");
    CHECK(has(m["failure_reason"].get<std::string>(), "ErrorSendAsDenied"));
    CHECK(has(m["failure_reason"].get<std::string>(), "Send As"));

    t.inject({{"endpoint", "graph"},
              {"path", "sendMail"},
              {"status", 403},
              {"code", "ErrorAccessDenied"},
              {"message", "Access is denied. Check credentials and try again."},
              {"count", 1}});
    waiting = t.send(mailbox, unique_mailbox("graph-wait-rcpt"), "needs consent");
    t.process();
    const auto w = t.mail(waiting);
    INFO(w.dump());
    CHECK(w["state"] == "outgoing");
    CHECK(w["attempts"] == 0);
    CHECK(has(w["failure_reason"].get<std::string>(), "lacks Mail.Send"));
    CHECK(w["waiting_server_id"] == id);
    auto e = t.env();
    CHECK(records::read(e, mail::kOutgoingServer, id)["microsoft_outlook_token_status"] == "refresh_failed");
    // A mail waiting for another reason (its back-off) keeps its time when this one is released.
    other = t.send(mailbox, unique_mailbox("graph-other-rcpt"), "backing off");
    t.host->db().session() << "UPDATE mail_mail SET next_try = '2999-01-01T00:00:00Z' WHERE id = :id", soci::use(other);
  }
  // Reconnecting releases the waiting mail at once (host call mail_release), not the other.
  REQUIRE(t.consent_and_confirm(t.connect_url(mail::kOutgoingServer, id)).status == 303);
  auto lock = t.host->db().lock();
  CHECK(t.mail(waiting)["next_try"].is_null());
  CHECK(t.mail(other)["next_try"] == "2999-01-01T00:00:00Z");
  CHECK(t.process().sent == 1);
  CHECK(t.mail(waiting)["state"] == "sent");
}

TEST_CASE("Graph: switching a server connected for SMTP asks for a new consent instead of mixing resources", "[outlook][graph]") {
  GraphHost t;
  const std::string mailbox = unique_mailbox("graph-switch");
  const auto id = t.outlook_server("Switch", mailbox);
  REQUIRE(t.consent_and_confirm(t.connect_url(mail::kOutgoingServer, id)).status == 303);  // SMTP.Send only
  t.write_server(id, {{"outlook_transport", "graph"}});
  auto lock = t.host->db().lock();
  const auto mail_id = t.send(mailbox, unique_mailbox("graph-switch-rcpt"), "after the switch");
  t.process();
  const auto m = t.mail(mail_id);
  INFO(m.dump());
  CHECK(m["state"] == "outgoing");  // waits for the reconnect, nothing lost
  CHECK(m["attempts"] == 0);
  auto e = t.env();
  const auto rec = records::read(e, mail::kOutgoingServer, id);
  CHECK(rec["microsoft_outlook_token_status"] == "refresh_failed");
  CHECK(has(rec["microsoft_outlook_token_error"].get<std::string>(), "consent"));
}

TEST_CASE("Graph fetch: unread Inbox messages are stored, then marked read; a second fetch finds nothing new",
          "[outlook][graph][fetch]") {
  GraphHost t;
  const std::string mailbox = unique_mailbox("graph-inbox");
  const auto id = t.graph_inbox("Graph Inbox", mailbox);
  const std::string url = t.connect_url(mail::kIncomingServer, id);
  CHECK(has(url, "graph.microsoft.com%2FMail.ReadWrite"));
  CHECK_FALSE(has(url, "IMAP.AccessAsUser.All"));
  REQUIRE(t.consent_and_confirm(url).status == 303);
  for (int i = 0; i < 23; ++i) {  // more than one $batch of 20
    t.stack.deliver(mailbox, "From: a@other.org\r\nTo: " + mailbox + "\r\nSubject: Graph " + std::to_string(i) +
                                 "\r\nMessage-ID: <graph-" + std::to_string(i) + "@x>\r\n\r\nBody " + std::to_string(i) + "\r\n");
  }
  const long before = t.graph_counts().value("requests_total", 0L);
  auto lock = t.host->db().lock();
  auto e = t.env();
  CHECK(has(e.registry.action(mail::kIncomingServer, "button_confirm_login")->invoke(e, id)["message"].get<std::string>(),
            "Connection Test Successful"));
  const auto fetched = e.registry.action(mail::kIncomingServer, "fetch_mail")->invoke(e, id);
  INFO(fetched.dump());
  CHECK(fetched["stored"] == 23);
  CHECK(t.graph_counts().value("requests_total", 0L) > before);  // it went through Graph, not IMAP
  const auto msgs = records::list(e, mail::kMessage);
  CHECK(msgs.size() == 23);
  CHECK(std::any_of(msgs.begin(), msgs.end(), [](const json& m) { return m["subject"] == "Graph 7"; }));
  // Everything is read now: a second fetch stores nothing.
  const auto again = e.registry.action(mail::kIncomingServer, "fetch_mail")->invoke(e, id);
  CHECK(again["stored"] == 0);
  CHECK(again.value("duplicates", 0) == 0);
  CHECK(records::list(e, mail::kMessage).size() == 23);
  // The delta query: a later fetch asks only what changed since (one request, one $value for
  // the one new message), not the whole folder again.
  t.stack.deliver(mailbox,
                  "From: a@other.org\r\nTo: " + mailbox + "\r\nSubject: Later\r\nMessage-ID: <graph-later@x>\r\n\r\nB\r\n");
  const json before_delta = t.graph_counts()["requests"];
  const auto later = e.registry.action(mail::kIncomingServer, "fetch_mail")->invoke(e, id);
  CHECK(later["stored"] == 1);
  const json after_delta = t.graph_counts()["requests"];
  CHECK(after_delta.value("GET /me/mailFolders/{folder}/messages/delta", 0L) -
            before_delta.value("GET /me/mailFolders/{folder}/messages/delta", 0L) ==
        1);
  CHECK(after_delta.value("GET /me/messages/{id}/$value", 0L) - before_delta.value("GET /me/messages/{id}/$value", 0L) == 1);
  CHECK(records::list(e, mail::kMessage).size() == 24);
}

TEST_CASE("Graph fetch: a message stored but not marked read (a crash in between) is not stored twice",
          "[outlook][graph][fetch]") {
  GraphHost t;
  const std::string mailbox = unique_mailbox("graph-crash");
  const auto id = t.graph_inbox("Graph Crash", mailbox);
  REQUIRE(t.consent_and_confirm(t.connect_url(mail::kIncomingServer, id)).status == 303);
  t.stack.deliver(mailbox, "From: a@other.org\r\nTo: " + mailbox + "\r\nSubject: Once\r\nMessage-ID: <once@x>\r\n\r\nB\r\n");
  // The $batch that marks it read fails: the message is stored, still unread at the mailbox.
  t.inject({{"endpoint", "graph"}, {"path", "$batch"}, {"status", 503}, {"count", 1}});
  auto lock = t.host->db().lock();
  auto e = t.env();
  e.registry.action(mail::kIncomingServer, "button_confirm_login")->invoke(e, id);
  const auto* fetch = e.registry.action(mail::kIncomingServer, "fetch_mail");
  CHECK_THROWS_WITH(fetch->invoke(e, id), Catch::Contains("503"));  // the run reports the failed $batch
  CHECK(records::list(e, mail::kMessage).size() == 1);              // ... after the message was stored
  const auto second = fetch->invoke(e, id);
  INFO(second.dump());
  CHECK(second["stored"] == 0);
  CHECK(records::list(e, mail::kMessage).size() == 1);  // the refetch is recognised, not stored twice
  CHECK(fetch->invoke(e, id)["stored"] == 0);           // and it is read now
}

TEST_CASE("Graph fetch: a message too large to take stays unread and is not downloaded again; the rest are stored",
          "[outlook][graph][fetch]") {
  GraphHost t;
  const std::string mailbox = unique_mailbox("graph-large");
  const auto id = t.graph_inbox("Graph Large", mailbox);
  REQUIRE(t.consent_and_confirm(t.connect_url(mail::kIncomingServer, id)).status == 303);
  auto message = [&](const std::string& subject, const std::string& body) {
    return "From: a@other.org\r\nTo: " + mailbox + "\r\nSubject: " + subject + "\r\nMessage-ID: <" + subject + "@x>\r\n\r\n" +
           body;
  };
  std::string big;
  const std::string line = std::string(76, 'x') + "\r\n";
  while (big.size() <= (17u << 20)) big += line;  // over the 16 MB the host takes in one answer
  t.stack.deliver(mailbox, message("small-1", "one\r\n"));
  t.stack.deliver(mailbox, message("huge", big));
  t.stack.deliver(mailbox, message("small-2", "two\r\n"));
  std::string().swap(big);
  auto value_requests = [&] { return t.graph_counts()["requests"].value("GET /me/messages/{id}/$value", 0L); };
  auto lock = t.host->db().lock();
  auto e = t.env();
  e.registry.action(mail::kIncomingServer, "button_confirm_login")->invoke(e, id);
  const auto* fetch = e.registry.action(mail::kIncomingServer, "fetch_mail");
  const auto first = fetch->invoke(e, id);
  INFO(first.dump());
  CHECK(first["stored"] == 2);  // the others are not held back by it
  CHECK(first["skipped"] == 1);
  CHECK(has(first["message"].get<std::string>(), "too large"));
  CHECK(records::list(e, mail::kMessage).size() == 2);
  // The next fetch does not download it again (and finds nothing else).
  const long before = value_requests();
  const auto second = fetch->invoke(e, id);
  CHECK(second["stored"] == 0);
  CHECK(second["skipped"] == 0);
  CHECK(value_requests() == before);
  // It is still unread in the mailbox: forgetting it (and where the sync was) lists it again,
  // and it is skipped again.
  records::write(e, mail::kIncomingServer, id, {{"microsoft_outlook_graph_skipped", ""}, {"microsoft_outlook_graph_delta", ""}});
  const auto third = fetch->invoke(e, id);
  CHECK(third["skipped"] == 1);
  CHECK(value_requests() == before + 1);
}

TEST_CASE(
    "Application permission: no sign-in, the app's own token for /users/{mailbox}; outside its access policy the "
    "mails wait with what to grant",
    "[outlook][graph][app]") {
  GraphHost t;
  const std::string mailbox = unique_mailbox("app-notify");
  const auto id = t.outlook_server("App Notifications", mailbox);
  t.write_server(id, {{"outlook_transport", "graph"}, {"outlook_flow", "app"}, {"max_per_minute", 0}});
  auto lock = t.host->db().lock();
  auto e = t.env();
  auto tenant = [&](const std::string& v) { records::setting_set(e, "microsoft_outlook_tenant", v); };
  const auto* connect = e.registry.action(mail::kOutgoingServer, "outlook_connect");
  CHECK_FALSE(connect->visible(e, records::read(e, mail::kOutgoingServer, id)));  // nobody signs in
  const auto* test = e.registry.action(mail::kOutgoingServer, "test_connection");
  // Application tokens come from one tenant: the multi-tenant alias is refused with the fix.
  tenant("common");
  CHECK_THROWS_WITH(test->invoke(e, id), Catch::Contains("Directory (tenant) ID"));
  tenant(t.stack["IDP_TENANT_ID"]);
  t.stack.idp("/_control/reset_counts", "{}");
  CHECK(has(test->invoke(e, id)["message"].get<std::string>(), "Connection Test Successful!"));
  auto rec = records::read(e, mail::kOutgoingServer, id);
  CHECK(rec["microsoft_outlook_token_status"] == "valid");
  CHECK(rec["microsoft_outlook_token_scope"] == "https://graph.microsoft.com/.default");
  CHECK(rec.value("microsoft_outlook_refresh_token", json()).is_null());  // none exists
  const std::string rcpt = unique_mailbox("app-rcpt");
  t.send(mailbox, rcpt, "app one");
  t.send(mailbox, rcpt, "app two");
  CHECK(t.process().sent == 2);
  CHECK(eventually([&] { return t.stack.mailbox(rcpt).size() == 2; }));
  CHECK(t.graph_counts()["requests"].value("POST /users/{user}/sendMail", 0L) == 2);
  const auto counts = json::parse(t.stack.idp("/_control/counts", ""));
  CHECK(counts["token"]["client_credentials"] == 1);  // cached until shortly before it expires
  CHECK(counts["token"]["refresh_token"] == 0);
  // An application access policy that leaves this mailbox out: Graph answers 403.
  t.stack.idp("/_control/app_access", json{{"client_id", "juniper-test"}, {"mailbox", "someone-else@example.com"}}.dump());
  const auto held = t.send(mailbox, rcpt, "app three");
  CHECK(t.process().sent == 0);
  const auto m = t.mail(held);
  INFO(m.dump());
  CHECK(m["state"] == "outgoing");
  CHECK(m["attempts"] == 0);
  CHECK(has(m["failure_reason"].get<std::string>(), "Mail.Send (Application)"));
  CHECK(has(m["failure_reason"].get<std::string>(), "application access policy"));
  CHECK_FALSE(has(m["failure_reason"].get<std::string>(), "reconnect"));
  CHECK(m["waiting_server_id"] == id);
  // Granted: a successful Test Connection releases it (no waiting out the delay).
  t.stack.idp("/_control/app_access", json{{"client_id", "juniper-test"}, {"mailbox", mailbox}}.dump());
  CHECK(has(test->invoke(e, id)["message"].get<std::string>(), "1 waiting mail(s) will go out at the next queue run"));
  CHECK(t.mail(held)["next_try"].is_null());
  CHECK(t.process().sent == 1);
  CHECK(eventually([&] { return t.stack.mailbox(rcpt).size() == 3; }));
  t.stack.idp("/_control/app_access",
              json{{"client_id", "juniper-test"}, {"mailbox", "someone-else@example.com"}, {"allowed", false}}.dump());
  t.stack.idp("/_control/app_access", json{{"client_id", "juniper-test"}, {"mailbox", mailbox}, {"allowed", false}}.dump());
}

namespace {
// A self-signed certificate and its key (PEM), made by the openssl command in the test's folder.
std::string certificate_and_key(const std::filesystem::path& dir, const std::string& name) {
  const auto cert = dir / (name + ".crt"), key = dir / (name + ".key");
  const std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=" + name + " -keyout " + key.string() +
                          " -out " + cert.string() + " >/dev/null 2>&1";
  REQUIRE(std::system(cmd.c_str()) == 0);
  auto read = [](const std::filesystem::path& p) {
    std::ifstream in(p);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  return read(cert) + read(key);
}
}  // namespace

TEST_CASE(
    "Application permission with a client certificate: a signed assertion instead of the secret; an unregistered "
    "certificate is explained",
    "[outlook][graph][app][certificate]") {
  GraphHost t;
  const std::string registered = certificate_and_key(t.dir, "registered");
  const std::string other = certificate_and_key(t.dir, "other");
  const auto cert_end = registered.find("-----END CERTIFICATE-----") + 25;
  t.stack.idp("/_control/app_certificate",
              json{{"client_id", "juniper-test"}, {"certificate", registered.substr(0, cert_end)}}.dump());
  const std::string mailbox = unique_mailbox("app-cert");
  const auto id = t.outlook_server("Certificate", mailbox);
  t.write_server(id, {{"outlook_transport", "graph"}, {"outlook_flow", "app"}, {"max_per_minute", 0}});
  auto lock = t.host->db().lock();
  auto e = t.env();
  records::setting_set(e, "microsoft_outlook_tenant", t.stack["IDP_TENANT_ID"]);
  records::setting_set(e, "microsoft_outlook_client_secret", "");  // the certificate alone proves the app
  std::string one_line = other;                                    // pasted into a one-line field: the line breaks are gone
  std::erase(one_line, '\n');
  records::setting_set(e, "microsoft_outlook_client_certificate", one_line);
  const auto* test = e.registry.action(mail::kOutgoingServer, "test_connection");
  CHECK_THROWS_WITH(test->invoke(e, id), Catch::Contains("not registered on the app") && Catch::Contains("AADSTS700027"));
  records::setting_set(e, "microsoft_outlook_client_certificate", registered);
  CHECK(has(test->invoke(e, id)["message"].get<std::string>(), "Connection Test Successful!"));
  const std::string rcpt = unique_mailbox("app-cert-rcpt");
  t.send(mailbox, rcpt, "signed by a certificate");
  CHECK(t.process().sent == 1);
  CHECK(eventually([&] { return t.stack.mailbox(rcpt).size() == 1; }));
  std::string raw;
  t.host->db().session() << "SELECT value FROM ir_config_parameter WHERE key = 'microsoft_outlook_client_certificate'",
      soci::into(raw);
  CHECK(raw.starts_with("gcm1:"));  // the private key is encrypted at rest
  CHECK_FALSE(has(raw, "PRIVATE KEY"));
  records::setting_set(e, "microsoft_outlook_client_secret", "test-secret");
  records::setting_set(e, "microsoft_outlook_client_certificate", "");
}

TEST_CASE("Application permission: Graph fetch reads /users/{mailbox} with the app's token", "[outlook][graph][app][fetch]") {
  GraphHost t;
  const std::string mailbox = unique_mailbox("app-inbox");
  const auto id = t.graph_inbox("App Inbox", mailbox);
  auto lock = t.host->db().lock();
  auto e = t.env();
  records::write(e, mail::kIncomingServer, id, {{"outlook_flow", "app"}});
  records::setting_set(e, "microsoft_outlook_tenant", t.stack["IDP_TENANT_ID"]);
  for (int i = 0; i < 3; ++i) {
    t.stack.deliver(mailbox, "From: a@other.org\r\nTo: " + mailbox + "\r\nSubject: App " + std::to_string(i) +
                                 "\r\nMessage-ID: <app-" + std::to_string(i) + "-" + mailbox + ">\r\n\r\nBody\r\n");
  }
  CHECK(has(e.registry.action(mail::kIncomingServer, "button_confirm_login")->invoke(e, id)["message"].get<std::string>(),
            "Connection Test Successful"));
  const auto fetched = e.registry.action(mail::kIncomingServer, "fetch_mail")->invoke(e, id);
  INFO(fetched.dump());
  CHECK(fetched["stored"] == 3);
  CHECK(t.graph_counts()["requests"].value("GET /users/{user}/mailFolders/{folder}/messages/delta", 0L) >= 1);
  CHECK(e.registry.action(mail::kIncomingServer, "fetch_mail")->invoke(e, id)["stored"] == 0);  // marked read
}

TEST_CASE(
    "Application permission over SMTP: refused until Exchange grants the app the mailbox, explained; then the "
    "waiting mail goes out",
    "[outlook][app]") {
  GraphHost t;
  const std::string mailbox = unique_mailbox("app-smtp");
  const auto id = t.outlook_server("App SMTP", mailbox);
  t.write_server(id, {{"outlook_flow", "app"}, {"max_per_minute", 0}});
  auto lock = t.host->db().lock();
  auto e = t.env();
  records::setting_set(e, "microsoft_outlook_tenant", t.stack["IDP_TENANT_ID"]);
  const auto held = t.send(mailbox, unique_mailbox("app-smtp-rcpt"), "app over smtp");
  t.process();
  const auto rec = records::read(e, mail::kOutgoingServer, id);
  CHECK(rec["microsoft_outlook_token_scope"] == "https://outlook.office365.com/.default");
  const auto m = t.mail(held);
  INFO(m.dump());
  // Exchange (the stack's Dovecot asks the simulator) takes no application token for a mailbox
  // the app's service principal was not granted.
  CHECK(m["state"] == "outgoing");
  CHECK(m["attempts"] == 0);
  CHECK(has(m["failure_reason"].get<std::string>(), "New-ServicePrincipal"));
  CHECK(has(m["failure_reason"].get<std::string>(), "Add-MailboxPermission -Identity " + mailbox));
  // The Exchange admin runs Add-MailboxPermission; Test Connection proves it and releases the mail.
  t.stack.idp("/_control/exchange_app_access", json{{"client_id", "juniper-test"}, {"mailbox", mailbox}, {"grant", true}}.dump());
  const auto tested = e.registry.action(mail::kOutgoingServer, "test_connection")->invoke(e, id);
  CHECK(has(tested.value("message", ""), "Connection Test Successful!"));
  CHECK(t.process().sent == 1);
  CHECK(t.mail(held)["state"] == "sent");
  const std::string rcpt = t.mail(held)["email_to"];
  REQUIRE(eventually([&] { return t.stack.mailbox(rcpt).size() == 1; }));
}

// An Outlook incoming server on IMAP, pointed at the stack's Dovecot.
static std::int64_t imap_inbox(GraphHost& t, const std::string& name, const std::string& user,
                               const json& more = json::object()) {
  auto lock = t.host->db().lock();
  auto e = t.env();
  json values = {{"name", name}, {"server_type", "outlook"}, {"user", user}};
  values.update(more);
  const auto id = records::create(e, mail::kIncomingServer, values);
  records::write(e, mail::kIncomingServer, id, {{"server", "127.0.0.1"}, {"port", t.stack["IMAPS_PORT"]}});
  return id;
}

TEST_CASE("Application permission over IMAP: the app's token reads a mailbox Exchange granted it, and no other",
          "[outlook][app][fetch]") {
  GraphHost t;
  const std::string mailbox = unique_mailbox("app-imap");
  const auto in = imap_inbox(t, "App IMAP", mailbox, {{"outlook_flow", "app"}});
  t.stack.deliver(mailbox, "From: a@other.org\r\nTo: " + mailbox + "\r\nSubject: For the app\r\nMessage-ID: <app-imap-" +
                               mailbox + ">\r\n\r\nHello\r\n");
  auto lock = t.host->db().lock();
  auto e = t.env();
  records::setting_set(e, "microsoft_outlook_tenant", t.stack["IDP_TENANT_ID"]);
  const auto* confirm = e.registry.action(mail::kIncomingServer, "button_confirm_login");
  CHECK_THROWS(confirm->invoke(e, in));  // not granted: Dovecot, like Exchange, refuses the login
  CHECK(records::list(e, mail::kMessage).empty());
  t.stack.idp("/_control/exchange_app_access", json{{"client_id", "juniper-test"}, {"mailbox", mailbox}, {"grant", true}}.dump());
  CHECK(has(confirm->invoke(e, in)["message"].get<std::string>(), "Connection Test Successful"));
  CHECK(records::read(e, mail::kIncomingServer, in)["microsoft_outlook_token_scope"] == "https://outlook.office365.com/.default");
  const auto fetched = e.registry.action(mail::kIncomingServer, "fetch_mail")->invoke(e, in);
  CHECK(fetched["stored"] == 1);
  CHECK(records::list(e, mail::kMessage)[0]["subject"] == "For the app");
}

TEST_CASE("Shared mailbox over IMAP: the delegate's token with the shared mailbox as the SASL user, once given Full Access",
          "[outlook][shared][fetch]") {
  GraphHost t;
  const std::string delegate = unique_mailbox("imap-delegate");
  const std::string shared = unique_mailbox("imap-shared");
  const auto in = imap_inbox(t, "Shared over IMAP", delegate, {{"outlook_mailbox", shared}});
  REQUIRE(t.consent_and_confirm(t.connect_url(mail::kIncomingServer, in)).status == 303);  // the delegate signs in
  t.stack.deliver(shared, "From: a@other.org\r\nTo: " + shared + "\r\nSubject: Team mail\r\nMessage-ID: <imap-team-" + shared +
                              ">\r\n\r\nHello team\r\n");
  t.stack.deliver(delegate, "From: a@other.org\r\nTo: " + delegate + "\r\nSubject: Own mail\r\nMessage-ID: <imap-own-" +
                                delegate + ">\r\n\r\nMine\r\n");
  auto lock = t.host->db().lock();
  auto e = t.env();
  const auto* confirm = e.registry.action(mail::kIncomingServer, "button_confirm_login");
  CHECK_THROWS(confirm->invoke(e, in));  // no Full Access yet
  t.stack.idp("/_control/mailbox_permission", json{{"mailbox", shared}, {"user", delegate}, {"grant", true}}.dump());
  CHECK(has(confirm->invoke(e, in)["message"].get<std::string>(), "Connection Test Successful"));
  const auto fetched = e.registry.action(mail::kIncomingServer, "fetch_mail")->invoke(e, in);
  CHECK(fetched["stored"] == 1);  // the shared mailbox's, not the delegate's own
  CHECK(records::list(e, mail::kMessage)[0]["subject"] == "Team mail");
}

TEST_CASE(
    "Shared mailbox over Graph: the delegate reads it with Mail.ReadWrite.Shared once given Full Access, and sends "
    "as it once given Send As",
    "[outlook][graph][shared]") {
  GraphHost t;
  const std::string delegate = unique_mailbox("delegate");
  const std::string shared = unique_mailbox("shared-info");
  const auto in = t.graph_inbox("Shared Info", delegate);
  {
    auto lock = t.host->db().lock();
    auto e = t.env();
    records::write(e, mail::kIncomingServer, in, {{"outlook_mailbox", shared}});
  }
  const std::string url = t.connect_url(mail::kIncomingServer, in);
  CHECK(has(url, "Mail.ReadWrite.Shared"));  // another person's mailbox needs the .Shared permission
  REQUIRE(t.consent_and_confirm(url).status == 303);
  t.stack.deliver(shared, "From: a@other.org\r\nTo: " + shared + "\r\nSubject: For the team\r\nMessage-ID: <team-" + shared +
                              ">\r\n\r\nHello team\r\n");
  t.stack.deliver(delegate, "From: a@other.org\r\nTo: " + delegate + "\r\nSubject: Personal\r\nMessage-ID: <own-" + delegate +
                                ">\r\n\r\nMine\r\n");
  {
    auto lock = t.host->db().lock();
    auto e = t.env();
    const auto* confirm = e.registry.action(mail::kIncomingServer, "button_confirm_login");
    // Without Full Access: what to grant, in Exchange's terms (and no reconnect asked).
    CHECK_THROWS_WITH(confirm->invoke(e, in),
                      Catch::Contains("Add-MailboxPermission -Identity " + shared + " -User " + delegate));
    t.stack.idp("/_control/graph_send_as", json{{"user", delegate}, {"address", shared}}.dump());
    CHECK(has(confirm->invoke(e, in)["message"].get<std::string>(), "Connection Test Successful"));
    const auto fetched = e.registry.action(mail::kIncomingServer, "fetch_mail")->invoke(e, in);
    INFO(fetched.dump());
    CHECK(fetched["stored"] == 1);  // the shared mailbox's message, not the delegate's own
    const auto msgs = records::list(e, mail::kMessage);
    REQUIRE(msgs.size() == 1);
    CHECK(msgs[0]["subject"] == "For the team");
    CHECK(t.graph_counts()["requests"].value("GET /users/{user}/mailFolders/{folder}/messages/delta", 0L) >= 1);
  }
  // Sending as the shared address through the delegate's server, now that it has Send As.
  const auto out = t.graph_server("Delegate", delegate);
  t.write_server(out, {{"from_filter", delegate + "," + shared}, {"max_per_minute", 0}});
  auto lock = t.host->db().lock();
  const std::string rcpt = unique_mailbox("shared-rcpt");
  const auto sent = t.send(shared, rcpt, "from the team");
  CHECK(t.process().sent == 1);
  CHECK(t.mail(sent)["state"] == "sent");
  REQUIRE(eventually([&] { return t.stack.mailbox(rcpt).size() == 1; }));
  CHECK(has(t.stack.mailbox(rcpt)[0], "From: " + shared));
  t.stack.idp("/_control/graph_send_as", json{{"user", delegate}, {"address", shared}, {"allowed", false}}.dump());
}

TEST_CASE(
    "Sending as a shared address over SMTP: Exchange's 5.7.60 fails that mail with the Send As to grant; once "
    "granted, the next one goes out",
    "[outlook][shared]") {
  // The stack's Postfix asks the simulator at MAIL FROM, as Exchange decides: a token login may
  // use its own address or one it has Send As on.
  GraphHost t;
  const std::string delegate = unique_mailbox("smtp-delegate");
  const std::string shared = unique_mailbox("smtp-shared");
  const auto id = t.outlook_server("Delegate SMTP", delegate);
  REQUIRE(t.consent_and_confirm(t.connect_url(mail::kOutgoingServer, id)).status == 303);
  t.write_server(id, {{"from_filter", delegate + "," + shared}, {"max_per_minute", 0}});
  auto lock = t.host->db().lock();
  const std::string rcpt = unique_mailbox("smtp-shared-rcpt");
  const auto refused = t.send(shared, rcpt, "as the shared mailbox");
  t.process();
  const auto m = t.mail(refused);
  INFO(m.dump());
  CHECK(m["state"] == "exception");
  const std::string reason = m["failure_reason"];
  CHECK(has(reason, "5.7.60"));
  CHECK(has(reason, "Add-RecipientPermission -Identity " + shared + " -Trustee " + delegate));
  t.stack.idp("/_control/send_as", json{{"user", delegate}, {"address", shared}, {"grant", true}}.dump());
  const auto sent = t.send(shared, rcpt, "as the shared mailbox, with Send As");
  CHECK(t.process().sent == 1);
  CHECK(t.mail(sent)["state"] == "sent");
  REQUIRE(eventually([&] { return t.stack.mailbox(rcpt).size() == 1; }));
  CHECK(has(t.stack.mailbox(rcpt)[0], "From: " + shared));
}

TEST_CASE("SMTP AUTH disabled (535 5.7.139): the mails wait with how to enable it or switch to Graph", "[outlook][graph]") {
  // Exchange's answer, from a scripted server (the test Postfix cannot be made to say it).
  fake_smtp::Script exchange;
  exchange.auth_mechanisms = "LOGIN XOAUTH2";
  exchange.auth_reply =
      "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. "
      "Visit https://aka.ms/smtp_auth_disabled for more information.";
  fake_smtp::Server server(exchange);
  GraphHost t;
  const std::string mailbox = unique_mailbox("smtp-off");
  const auto id = t.outlook_server("Tenant without SMTP AUTH", mailbox);
  REQUIRE(t.consent_and_confirm(t.connect_url(mail::kOutgoingServer, id)).status == 303);
  auto lock = t.host->db().lock();
  // Plain text to the scripted server (the module insists on STARTTLS for real ones).
  const int port = server.port();  // named: soci binds it by reference until the statement runs
  t.host->db().session() << "UPDATE ir_mail_server SET smtp_port = :p, smtp_encryption = 'none' WHERE id = :id", soci::use(port),
      soci::use(id);
  const auto a = t.send(mailbox, unique_mailbox("smtp-off-rcpt"), "one");
  const auto b = t.send(mailbox, unique_mailbox("smtp-off-rcpt"), "two");
  t.process();
  for (const auto mail_id : {a, b}) {
    const auto m = t.mail(mail_id);
    INFO(m.dump());
    CHECK(m["state"] == "outgoing");  // a tenant setting: nothing is lost, no attempt counted
    CHECK(m["attempts"] == 0);
    const std::string reason = m["failure_reason"];
    CHECK(has(reason, "Authenticated SMTP is disabled for " + mailbox));
    CHECK(has(reason, "Manage email apps"));
    CHECK(has(reason, "Microsoft Graph API"));
  }
  auto e = t.env();
  const auto* test = e.registry.action(mail::kOutgoingServer, "test_connection");
  CHECK_THROWS_WITH(test->invoke(e, id), Catch::Contains("Authenticated SMTP is disabled"));

  // The administrator switches the server to Graph: that edit releases the waiting mails.
  records::write(e, mail::kOutgoingServer, id, {{"outlook_transport", "graph"}});
  for (const auto mail_id : {a, b}) {
    const auto m = t.mail(mail_id);
    CHECK(m["next_try"].is_null());
    CHECK(m["waiting_server_id"].is_null());
  }
  // Exchange's consent does not cover Graph: the next run says to reconnect, and the reconnect
  // releases them again; then each goes out once, through Graph.
  t.process();
  INFO(t.mail(a).dump());
  CHECK(has(t.mail(a)["failure_reason"].get<std::string>(), "Reconnect the Outlook account"));
  REQUIRE(t.consent_and_confirm(t.connect_url(mail::kOutgoingServer, id)).status == 303);
  const long before = t.graph_counts()["requests"].value("POST /me/sendMail", 0L);
  CHECK(t.process().sent == 2);
  CHECK(t.graph_counts()["requests"].value("POST /me/sendMail", 0L) - before == 2);
  for (const auto mail_id : {a, b}) {
    const auto m = t.mail(mail_id);
    CHECK(m["state"] == "sent");
    CHECK(m["attempts"] == 0);
    REQUIRE(eventually([&] { return t.stack.mailbox(m["email_to"].get<std::string>()).size() == 1; }));
  }
}

TEST_CASE("Graph: a message over 4 MB goes as a draft, its large attachment uploaded in pieces without the token, then sent",
          "[outlook][graph][large]") {
  GraphHost t;
  // Real Graph refuses upload sessions under 3 MB (those go in one POST .../attachments).
  t.stack.idp("/_control/settings", json{{"graph_upload_session_min_size", 3u << 20}}.dump());
  const std::string mailbox = unique_mailbox("graph-large");
  t.graph_server("Large", mailbox);
  const std::string to = unique_mailbox("graph-large-to");
  std::string scan(10u << 20, '\0');
  for (std::size_t i = 0; i < scan.size(); ++i) scan[i] = static_cast<char>((i * 2654435761u) >> 11);
  const std::string note(20000, 'n');
  auto mail_with = [&](const std::string& subject, std::vector<mail::AttachmentFile> attachments) {
    auto lock = t.host->db().lock();
    auto e = t.env();
    t.param("mail.max_size", std::to_string(50u << 20));
    mail::Draft d;
    d.email_from = mailbox;
    d.email_to = to;
    d.subject = subject;
    d.body_text = "The scan is attached.";
    d.attachments = std::move(attachments);
    return mail::enqueue(e, d);
  };
  auto mail_with_scan = [&](const std::string& subject) {
    return mail_with(subject, {{"scan.pdf", "application/pdf", scan}, {"note.txt", "text/plain", note}});
  };
  // The attachment `name` of a message that arrived, checked byte for byte against `data`.
  auto arrived_whole = [](const mail::mime::ParsedMessage& got, const std::string& name, const std::string& data) {
    const auto a =
        std::find_if(got.attachments.begin(), got.attachments.end(), [&](const auto& x) { return x.filename == name; });
    return a != got.attachments.end() && a->data.size() == data.size() &&
           juniper::crypto::to_hex(juniper::crypto::sha256(a->data)) == juniper::crypto::to_hex(juniper::crypto::sha256(data));
  };
  auto counts = [&](const char* name) { return t.graph_counts().value(name, 0L); };
  // A queue run that holds mail `id` (no attempt counted) with a reason containing `why`.
  auto held = [&](std::int64_t id, const std::string& why) {
    CHECK(t.process().sent == 0);
    const auto m = t.mail(id);
    INFO(m.value("failure_reason", json()).dump());
    CHECK(m["state"] == "outgoing");
    CHECK(m["attempts"] == 0);
    CHECK(has(m["failure_reason"].get<std::string>(), why));
    return m;
  };
  const long drafts = counts("drafts_created"), puts = counts("upload_puts"), sends = counts("draft_sends");

  SECTION("sent: one draft, one upload session in 4 pieces, one send; the message arrives whole") {
    const auto id = mail_with_scan("Large through Graph");
    auto lock = t.host->db().lock();
    CHECK(t.process().sent == 1);
    const auto m = t.mail(id);
    INFO(m.value("failure_reason", json()).dump());
    CHECK(m["state"] == "sent");
    CHECK(counts("drafts_created") - drafts == 1);
    CHECK(counts("upload_puts") - puts == 4);  // 10 MB in pieces of 2 880 KiB
    CHECK(counts("upload_puts_with_authorization") == 0);
    CHECK(counts("draft_sends") - sends == 1);
    CHECK(counts("drafts_open") == 0);
    REQUIRE(eventually([&] { return t.stack.mailbox(to).size() == 1; }));
    const auto got = mail::mime::parse(t.stack.mailbox(to)[0]);
    CHECK(got.message_id == m["message_id"].get<std::string>());
    CHECK(got.subject == "Large through Graph");
    REQUIRE(got.attachments.size() == 2);
    CHECK(arrived_whole(got, "scan.pdf", scan));
    CHECK(has(t.stack.mailbox(to)[0], "note.txt"));
  }
  SECTION("several attachments under 3 MB that together pass 4 MB: each goes apart in one POST, the message arrives whole") {
    std::vector<std::string> parts;
    std::vector<mail::AttachmentFile> files;
    for (int i = 0; i < 3; ++i) {
      parts.push_back(scan.substr(static_cast<std::size_t>(i) * 1000, 2900u * 1024));
      files.push_back({"part" + std::to_string(i) + ".bin", "application/octet-stream", parts.back()});
    }
    files.push_back({"note.txt", "text/plain", note});
    const auto id = mail_with("Three scans", std::move(files));
    const long posted = counts("attachments_posted");
    auto lock = t.host->db().lock();
    CHECK(t.process().sent == 1);
    const auto m = t.mail(id);
    INFO(m.value("failure_reason", json()).dump());
    CHECK(m["state"] == "sent");
    CHECK(counts("drafts_created") - drafts == 1);
    CHECK(counts("attachments_posted") - posted == 3);
    CHECK(counts("upload_puts") - puts == 0);
    CHECK(counts("drafts_open") == 0);
    REQUIRE(eventually([&] { return t.stack.mailbox(to).size() == 1; }));
    const auto got = mail::mime::parse(t.stack.mailbox(to)[0]);
    CHECK(got.message_id == m["message_id"].get<std::string>());
    REQUIRE(got.attachments.size() == 4);
    for (std::size_t i = 0; i < 3; ++i) CHECK(arrived_whole(got, "part" + std::to_string(i) + ".bin", parts[i]));
  }
  SECTION("connected before large messages needed Mail.ReadWrite: small mails go on; a large one waits saying what to do") {
    const std::string legacy = "https://graph.microsoft.com/Mail.Send https://graph.microsoft.com/User.Read";
    {
      auto lock = t.host->db().lock();
      auto e = t.env();
      const auto server = records::search(e, mail::kOutgoingServer, {{"smtp_user", mailbox}}).at(0);
      records::write(e, mail::kOutgoingServer, server, {{"microsoft_outlook_token_scope", legacy}});
    }
    std::int64_t server = 0;
    {
      auto lock = t.host->db().lock();
      const auto small = t.send(mailbox, to, "small one");
      CHECK(t.process().sent == 1);
      CHECK(t.mail(small)["state"] == "sent");
      auto e = t.env();
      server = records::search(e, mail::kOutgoingServer, {{"smtp_user", mailbox}}).at(0);
      CHECK(records::read(e, mail::kOutgoingServer, server)["microsoft_outlook_token_scope"] == legacy);  // no new consent
    }
    t.inject({{"endpoint", "graph"},
              {"path", "me/messages"},
              {"method", "POST"},
              {"status", 403},
              {"code", "ErrorAccessDenied"},
              {"message", "Access is denied. Check credentials and try again."},
              {"count", 1}});
    const auto id = mail_with_scan("Large, without Mail.ReadWrite");
    auto lock = t.host->db().lock();
    CHECK(held(id, "needs Mail.ReadWrite")["waiting_server_id"] == server);
  }
  SECTION("Graph busy during the upload: the mail waits, its draft is deleted, the next run sends it") {
    t.inject({{"endpoint", "graph"},
              {"path", "AttachmentSessions"},
              {"method", "PUT"},
              {"status", 503},
              {"code", "ServiceUnavailable"},
              {"message", "Service Unavailable"},
              {"retry_after", 5},
              {"count", 1}});
    const auto id = mail_with_scan("Large, once busy");
    auto lock = t.host->db().lock();
    held(id, "503");
    CHECK(counts("drafts_open") == 0);                                                          // the half-made draft is gone
    CHECK(t.process_at(std::chrono::system_clock::now() + std::chrono::seconds(6)).sent == 1);  // Retry-After: 5
    REQUIRE(eventually([&] { return t.stack.mailbox(to).size() == 1; }));
  }
}
