// Sending through the real Postfix and reading back from the real Dovecot maildir.
#include "mail_fixture.hpp"

#include "core/errors.hpp"
#include "host/mail/smtp/fake_smtp.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>

using juniper::test::eventually;
using juniper::test::MailHost;
using juniper::test::unique_mailbox;
namespace mail = juniper::mail;
namespace records = juniper::records;

using juniper::test::has;

TEST_CASE("a mail goes through Postfix with the rewritten From header and the envelope", "[mail][send]") {
  MailHost t;
  auto lock = t.host->db().lock();
  t.custom_servers(true);
  t.param("mail.default.from", "notifications");
  t.param("mail.catchall.domain", "example.com");
  t.param("mail.bounce.alias", "bounce");
  const auto server = t.postfix_server("Notifications", "notifications@example.com, example.com");
  const std::string rcpt = unique_mailbox("reader");
  const auto id = t.send("\"Zoë Martin\" <zoe@partner.org>", rcpt, "Quarterly report – ✓");
  const auto report = t.process();
  CHECK(report.sent == 1);
  const auto m = t.mail(id);
  INFO(m.dump());
  CHECK(m["state"] == "sent");
  CHECK(m["server_used_id"] == server);
  REQUIRE(eventually([&] { return t.stack.mailbox(rcpt).size() == 1; }));
  const std::string got = t.stack.mailbox(rcpt)[0];
  // The sender's domain matches no server: notifications@ sends, with Zoë's name kept.
  CHECK(has(got, "notifications@example.com>"));
  CHECK(has(got, "=?"));                                 // the display name is RFC 2047-encoded
  CHECK(has(got, "Return-Path: <bounce@example.com>"));  // the bounce address matches the filter (domain)
  CHECK(has(got, m["message_id"].get<std::string>()));
  CHECK_FALSE(has(got, "Bcc:"));
}

TEST_CASE("200 mails go out over one SMTP connection", "[mail][send]") {
  MailHost t;
  auto lock = t.host->db().lock();
  t.custom_servers(true);
  t.postfix_server("Alice", "alice@example.com");
  const std::string rcpt = unique_mailbox("bulk");
  {
    auto e = t.env();
    juniper::Transaction tr(t.host->db().session());
    for (int i = 0; i < 200; ++i) {
      mail::Draft d;
      d.email_from = "alice@example.com";
      d.email_to = rcpt;
      d.email_bcc = i == 0 ? "hidden-" + rcpt : "";
      d.subject = "Invoice " + std::to_string(i);
      d.body_text = std::string(2000 + i * 10, 'x');
      mail::enqueue(e, d);
    }
    tr.commit();
  }
  const int before = t.stack.smtp_connections();
  const auto report = t.process();
  CHECK(report.sent == 200);
  CHECK(report.connections == 1);
  CHECK(t.stack.smtp_connections() - before == 1);
  CHECK(eventually([&] { return t.stack.mailbox(rcpt).size() == 200; }, 15000));
  REQUIRE(eventually([&] { return t.stack.mailbox("hidden-" + rcpt).size() == 1; }));
  CHECK_FALSE(has(t.stack.mailbox("hidden-" + rcpt)[0], "hidden-"));  // Bcc delivered, never in headers
}

TEST_CASE("Postfix down: mails stay queued with the reason and go out once it is back", "[mail][send][faults]") {
  MailHost t;
  auto lock = t.host->db().lock();
  t.custom_servers(true);
  t.postfix_server("Alice", "alice@example.com");
  const std::string rcpt = unique_mailbox("retry");
  const auto id = t.send("alice@example.com", rcpt, "retry me");
  t.stack.run("postfix.sh stop");
  const auto down = t.process();
  t.stack.run("postfix.sh start");
  CHECK(down.retried == 1);
  auto m = t.mail(id);
  CHECK(m["state"] == "outgoing");
  CHECK(m["attempts"] == 1);
  CHECK(m["failure_reason"].get<std::string>().find("127.0.0.1:" + t.stack["SMTP_PORT"]) != std::string::npos);
  CHECK(t.process().sent == 0);                                                        // not due yet: the retry waits
  CHECK(t.process_at(std::chrono::system_clock::now() + mail::backoff(1)).sent == 1);  // its back-off has passed
  CHECK(t.mail(id)["state"] == "sent");
  CHECK(eventually([&] { return t.stack.mailbox(rcpt).size() == 1; }));
}

TEST_CASE("a sender that died after claiming loses nothing: expired leases are taken again", "[mail][send][faults]") {
  MailHost t;
  auto lock = t.host->db().lock();
  t.custom_servers(true);
  t.postfix_server("Alice", "alice@example.com");
  const std::string rcpt = unique_mailbox("lease");
  for (int i = 0; i < 3; ++i) t.send("alice@example.com", rcpt, "lease " + std::to_string(i));
  {
    auto e = t.env();
    const auto claimed = mail::claim(e, "dead-process", 10, std::chrono::seconds(60));
    CHECK(claimed.size() == 3);
  }
  CHECK(t.process().sent == 0);  // another process's live lease is respected
  // A minute later the dead process's lease has run out (the queue's clock, moved).
  CHECK(t.process_at(std::chrono::system_clock::now() + std::chrono::seconds(61)).sent == 3);
  CHECK(eventually([&] { return t.stack.mailbox(rcpt).size() == 3; }));
}

TEST_CASE("a mail whose lease passed to another sender while the server was slow is not sent twice", "[mail][send][faults]") {
  MailHost t;
  std::int64_t second = 0;
  std::vector<mail::QueuedMail> taken;
  fake_smtp::Script slow;
  slow.offer_auth = false;
  // The server holds its answer to the first mail until the run's lease has run out and another
  // process has claimed the second mail (as a busy machine did to four senders on PostgreSQL).
  // Both leases run out together; the first mail is already on the wire, the second must wait.
  slow.before_eom = [&](int nth) {
    if (nth != 0) return;
    auto l = t.host->db().lock();
    auto e = t.env();
    eventually([&] { return !(taken = mail::claim(e, "other-process", 10, std::chrono::seconds(60))).empty(); }, 10000);
  };
  fake_smtp::Server server(slow);
  auto lock = t.host->db().lock();
  t.custom_servers(true);
  {
    auto e = t.env();
    records::create(e, mail::kOutgoingServer,
                    {{"name", "Slow"},
                     {"smtp_host", "127.0.0.1"},
                     {"smtp_port", server.port()},
                     {"smtp_encryption", "none"},
                     {"from_filter", "alice@example.com"},
                     {"max_connections", 1}});
  }
  t.send("alice@example.com", "bob@example.com", "first");
  second = t.send("alice@example.com", "bob@example.com", "second");
  auto e = t.env();
  mail::Sender sender(e, t.host->modules().hooks(), t.conf());
  mail::SenderOptions o;
  o.lease = std::chrono::seconds(1);
  const auto report = sender.process(o);
  REQUIRE(taken.size() == 2);  // both leases ran out; the first mail is the one in flight
  CHECK(taken[1].id == second);
  CHECK(report.sent == 1);
  CHECK(server.messages() == 1);  // the second mail was left to the process that holds it
  CHECK(t.mail(second)["state"] == "sending");
}

TEST_CASE("a mail's outcome is committed while the next one goes out, and the next is handed over only once it is",
          "[mail][send][faults]") {
  MailHost t;
  fake_smtp::Script script;
  script.offer_auth = false;
  script.offer_pipelining = true;
  // Before the server takes the first mail, the database starts refusing to record a mail as
  // sent (as a full disk would). The second mail's body is already on the wire by the time the
  // lane learns that the first one's commit failed: its final dot must not follow, or a
  // restarted sender would send both again.
  script.before_eom = [&](int nth) {
    if (nth != 0) return;
    auto l = t.host->db().lock();
    auto& sql = t.host->db().session();
    if (t.host->db().is_postgres()) {
      sql << "CREATE FUNCTION refuse_sent() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'disk I/O error (test)'; END $$ "
             "LANGUAGE plpgsql";
      sql << "CREATE TRIGGER refuse_sent BEFORE UPDATE OF state ON mail_mail FOR EACH ROW WHEN (NEW.state = 'sent') "
             "EXECUTE FUNCTION refuse_sent()";
    } else {
      sql << "CREATE TRIGGER refuse_sent BEFORE UPDATE OF state ON mail_mail WHEN NEW.state = 'sent' "
             "BEGIN SELECT RAISE(ABORT, 'disk I/O error (test)'); END";
    }
  };
  fake_smtp::Server server(script);
  auto lock = t.host->db().lock();
  t.custom_servers(true);
  {
    auto e = t.env();
    records::create(e, mail::kOutgoingServer,
                    {{"name", "Fake"},
                     {"smtp_host", "127.0.0.1"},
                     {"smtp_port", server.port()},
                     {"smtp_encryption", "none"},
                     {"from_filter", "alice@example.com"}});
  }
  const auto first = t.send("alice@example.com", "bob@example.com", "first");
  const auto second = t.send("alice@example.com", "bob@example.com", "second");
  auto e = t.env();
  mail::Sender sender(e, t.host->modules().hooks(), t.conf());
  CHECK_THROWS_WITH(sender.process({}), Catch::Contains("disk I/O error (test)"));
  CHECK(server.messages() == 1);  // only the first mail was handed over
  const auto commands = server.commands();
  CHECK(std::count(commands.begin(), commands.end(), "DATA") == 2);  // the second was on the wire, held at its dot
  CHECK(t.mail(first)["state"] == "sending");                        // in flight: its lease sends it again
  CHECK(t.mail(second)["state"] == "sending");
}

TEST_CASE("Test Connection: success, and one clear sentence per failure", "[mail][send]") {
  MailHost t;
  auto lock = t.host->db().lock();
  const auto id = t.postfix_server("Alice", "alice@example.com");
  const std::string rcpt_before = std::to_string(t.stack.mailbox("noreply@example.com").size());
  auto e = t.env();
  const auto* action = e.registry.action(mail::kOutgoingServer, "test_connection");
  REQUIRE(action != nullptr);
  CHECK(action->invoke(e, id)["message"] == "Connection Test Successful!");
  CHECK(std::to_string(t.stack.mailbox("noreply@example.com").size()) == rcpt_before);  // nothing was sent
  records::write(e, mail::kOutgoingServer, id, {{"smtp_pass", "wrong"}});
  CHECK_THROWS_WITH(action->invoke(e, id), Catch::Contains("535"));
  records::write(e, mail::kOutgoingServer, id, {{"smtp_pass", "alice-password"}, {"smtp_port", 1}});
  CHECK_THROWS_WITH(action->invoke(e, id), Catch::Contains("127.0.0.1:1"));
  records::write(e, mail::kOutgoingServer, id, {{"smtp_port", t.stack["SMTP_PORT"]}, {"smtp_host", "no-such-host.invalid"}});
  CHECK_THROWS_WITH(action->invoke(e, id), Catch::Contains("no-such-host.invalid"));
  // TLS: without the test CA the stack's certificate is not trusted, and the test says so.
  records::write(e, mail::kOutgoingServer, id, {{"smtp_host", "127.0.0.1"}});
  std::map<std::string, std::string> no_ca = t.conf();
  no_ca.erase("ca_file");
  CHECK_THROWS_WITH(mail::test_smtp_connection(e, t.host->modules().hooks(), no_ca, id),
                    Catch::Contains("certificate") && !Catch::Contains("alice-password"));
  CHECK(action->invoke(e, id)["message"] == "Connection Test Successful!");  // and back with the CA
}

TEST_CASE("bad input is refused at enqueue and nothing is queued", "[mail][send]") {
  MailHost t;
  auto lock = t.host->db().lock();
  auto count = [&] {
    int n = 0;
    t.host->db().session() << "SELECT COUNT(*) FROM mail_mail", soci::into(n);
    return n;
  };
  CHECK_THROWS_WITH(t.send("alice@example.com", "not-an-address", "x"), Catch::Contains("To"));
  CHECK_THROWS_WITH(t.send("alice@example.com\r\nBcc: victim@example.com", "a@example.com", "x"), Catch::Contains("line break"));
  CHECK_THROWS_WITH(t.send("alice@example.com", "a@example.com", "Hi\r\nBcc: victim@example.com"), Catch::Contains("Subject"));
  CHECK_THROWS_WITH(t.send("alice@example.com", "", "x"), Catch::Contains("at least one recipient"));
  t.param("mail.max_size", "1000");
  CHECK_THROWS_WITH(t.send("alice@example.com", "a@example.com", "big", std::string(5000, 'x')),
                    Catch::Contains("mail.max_size"));
  CHECK(count() == 0);
}

TEST_CASE("a module sends and checks mail with the host's SMTP and IMAP clients (SDK 1.1)", "[mail][sdk]") {
  MailHost t;
  // What the host does at start-up with juniper.conf's ca_file (the fixture writes it later).
  struct CaEnv {
    explicit CaEnv(const std::string& f) { ::setenv("JUNIPER_CA_FILE", f.c_str(), 1); }
    ~CaEnv() { ::unsetenv("JUNIPER_CA_FILE"); }
  } ca_env(t.stack["CA_FILE"]);
  auto lock = t.host->db().lock();
  t.host->modules().install({"test_ext"});  // and test_base, its dependency
  const std::string box = unique_mailbox("probe");
  t.stack.add_user(box, "probe-password");
  nlohmann::json smtp = {{"host", "127.0.0.1"},         {"port", std::stoi(t.stack["SMTP_PORT"])},
                         {"security", "starttls"},      {"auth", "password"},
                         {"user", "alice@example.com"}, {"secret", "alice-password"}};
  t.param("test_ext.mail_endpoint", smtp.dump());
  t.param("test_ext.mail_to", box);
  t.param("test_ext.imap_endpoint", nlohmann::json{{"host", "127.0.0.1"},
                                                   {"port", std::stoi(t.stack["IMAPS_PORT"])},
                                                   {"security", "ssl"},
                                                   {"auth", "password"},
                                                   {"user", box},
                                                   {"secret", "probe-password"}}
                                        .dump());
  auto e = t.env();
  const auto partner = records::create(e, "test_base.partner", {{"name", "Probe"}});
  const auto* send = e.registry.action("test_base.partner", "smtp_probe");
  const auto* check = e.registry.action("test_base.partner", "imap_probe");
  REQUIRE(send != nullptr);
  REQUIRE(check != nullptr);

  const int before = t.stack.smtp_connections();
  const auto sent = send->invoke(e, partner);
  INFO(sent.dump());
  REQUIRE(sent["results"].size() == 2);
  CHECK(sent["results"][0]["outcome"] == "sent");
  CHECK(sent["results"][1]["outcome"] == "sent");
  CHECK(t.stack.smtp_connections() - before == 1);  // the module's session reused its connection
  REQUIRE(eventually([&] { return t.stack.mailbox(box).size() == 2; }));
  CHECK(check->invoke(e, partner)["unseen"].size() == 2);

  // Failures come back as outcomes and reasons, never with the secret.
  smtp["secret"] = "wrong-password";
  t.param("test_ext.mail_endpoint", smtp.dump());
  const auto refused = send->invoke(e, partner);
  CHECK(refused["results"][0]["outcome"] == "auth_failed");
  CHECK(refused["results"][0]["message"].get<std::string>().find("wrong-password") == std::string::npos);
  t.param("test_ext.imap_endpoint", nlohmann::json{{"host", "127.0.0.1"},
                                                   {"port", std::stoi(t.stack["IMAPS_PORT"])},
                                                   {"security", "ssl"},
                                                   {"auth", "password"},
                                                   {"user", box},
                                                   {"secret", "bad"}}
                                        .dump());
  CHECK_THROWS_WITH(check->invoke(e, partner), Catch::Contains("uthenticat"));

  // A word the host does not know is refused, never taken for plaintext or no login.
  smtp["secret"] = "alice-password";
  smtp["security"] = "tls";
  t.param("test_ext.mail_endpoint", smtp.dump());
  const int connections = t.stack.smtp_connections();
  CHECK_THROWS_WITH(send->invoke(e, partner), Catch::Contains("unknown connection security \"tls\""));
  CHECK(t.stack.smtp_connections() == connections);
  smtp["security"] = "starttls";
  smtp["auth"] = "oauth";
  t.param("test_ext.mail_endpoint", smtp.dump());
  CHECK_THROWS_WITH(send->invoke(e, partner), Catch::Contains("unknown authentication \"oauth\""));
  t.param("test_ext.imap_endpoint",
          nlohmann::json{{"host", "127.0.0.1"}, {"port", std::stoi(t.stack["IMAPS_PORT"])}, {"security", "none"}}.dump());
  CHECK_THROWS_WITH(check->invoke(e, partner), Catch::Contains("unknown IMAP connection security \"none\""));
}

TEST_CASE("A small connection pool (JUNIPER_DB_POOL=2) sends every lane, fewer at once, none waiting for ever",
          "[mail][send][parallel]") {
  // A lane and the thread building its next message hold a connection each: with more lanes
  // at once than the pool has pairs for, they waited on each other for ever.
  setenv("JUNIPER_DB_POOL", "2", 1);
  MailHost t;  // the pool's size is read when the database opens
  unsetenv("JUNIPER_DB_POOL");
  REQUIRE(t.host->db().max_connections() == 2);
  auto lock = t.host->db().lock();
  t.custom_servers(true);
  const auto alice = t.postfix_server("Alice", "alice@example.com");
  t.postfix_server("Bob", "bob@example.com");
  t.write_server(alice, {{"max_connections", 3}});
  const std::string rcpt = unique_mailbox("small-pool");
  for (int i = 0; i < 12; ++i) t.send(i % 4 == 0 ? "bob@example.com" : "alice@example.com", rcpt, "pool " + std::to_string(i));
  const auto report = t.process();
  CHECK(report.sent == 12);
  CHECK(eventually([&] { return t.stack.mailbox(rcpt).size() == 12; }, 15000));
}

TEST_CASE("max_connections: one run keeps that many SMTP sessions to a server and sends to several servers at once",
          "[mail][send][parallel]") {
  MailHost t;
  auto lock = t.host->db().lock();
  t.custom_servers(true);
  const auto alice = t.postfix_server("Alice", "alice@example.com");
  t.postfix_server("Bob", "bob@example.com");  // a second server record, same Postfix
  t.write_server(alice, {{"max_connections", 3}});
  const std::string rcpt = unique_mailbox("lanes");
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 40; ++i) {
    ids.push_back(t.send(i % 4 == 0 ? "bob@example.com" : "alice@example.com", rcpt, "lane " + std::to_string(i)));
  }
  const int before = t.stack.smtp_connections();
  const auto report = t.process();
  CHECK(report.sent == 40);
  CHECK(report.connections == 4);  // 3 lanes to Alice's server, 1 to Bob's
  CHECK(t.stack.smtp_connections() - before == 4);
  for (const auto id : ids) CHECK(t.mail(id)["state"] == "sent");
  CHECK(eventually([&] { return t.stack.mailbox(rcpt).size() == 40; }, 15000));
}
