// One mail's problem is that mail's outcome: a poison mail in a batch, recipients split into
// transactions the server accepts, and a mail that keeps failing is given up after
// mail.queue.max_age. Against the real Postfix/Dovecot of the test mail stack.
#include "mail_fixture.hpp"

#include "core/errors.hpp"

#include <catch2/catch.hpp>

using juniper::test::eventually;
using juniper::test::MailHost;
using juniper::test::unique_mailbox;
namespace mail = juniper::mail;
namespace records = juniper::records;

using juniper::test::has;
using juniper::test::unique_mailboxes;

namespace {
// A queued mail written straight to the table, as an older version (or a module) could have
// left it: enqueue's checks would refuse it.
std::int64_t raw_mail(MailHost& t, const std::string& to, const std::string& attachments = "") {
  auto e = t.env();
  nlohmann::json v = {{"email_from", "alice@example.com"},
                      {"email_to", to},
                      {"subject", "poison"},
                      {"body_text", "x"},
                      {"state", "outgoing"},
                      {"create_date", mail::iso_time(std::chrono::system_clock::now())},
                      {"message_id", "<poison-" + std::to_string(::getpid()) + "@example.com>"}};
  if (!attachments.empty()) v["attachments"] = attachments;
  return records::create(e, mail::kMail, v);
}
}  // namespace

TEST_CASE("a mail that cannot be prepared fails alone; the rest of its batch goes out", "[mail][send][isolation]") {
  MailHost t;
  auto lock = t.host->db().lock();
  t.custom_servers(true);
  t.postfix_server("Alice", "alice@example.com");
  const std::string rcpt = unique_mailbox("batch");
  std::vector<std::int64_t> good;
  for (int i = 0; i < 3; ++i) good.push_back(t.send("alice@example.com", rcpt, "good " + std::to_string(i)));
  const auto bad_rcpt = raw_mail(t,
                                 "b\xc3\xb8"
                                 "b@example.com");
  const auto bad_json = raw_mail(t, rcpt, "{not json");
  for (int i = 3; i < 6; ++i) good.push_back(t.send("alice@example.com", rcpt, "good " + std::to_string(i)));

  const auto report = t.process();  // must not throw
  CHECK(report.sent == 6);
  CHECK(report.failed == 2);
  for (const auto id : good) CHECK(t.mail(id)["state"] == "sent");
  const auto m1 = t.mail(bad_rcpt);
  CHECK(m1["state"] == "exception");
  CHECK(has(m1["failure_reason"].get<std::string>(),
            "b\xc3\xb8"
            "b@example.com"));
  const auto m2 = t.mail(bad_json);
  CHECK(m2["state"] == "exception");
  CHECK(has(m2["failure_reason"].get<std::string>(), "cannot prepare this mail"));
  CHECK(eventually([&] { return t.stack.mailbox(rcpt).size() == 6; }));
  CHECK(t.process().sent == 0);  // nothing left claimed or stuck
}

TEST_CASE("an address SMTP cannot carry is refused at enqueue with the reason", "[mail][send][isolation]") {
  MailHost t;
  auto lock = t.host->db().lock();
  CHECK_THROWS_WITH(t.send("alice@example.com",
                           "b\xc3\xb8"
                           "b@example.com",
                           "x"),
                    Catch::Contains("b\xc3\xb8"
                                    "b@example.com") &&
                        Catch::Contains("not plain ASCII"));
  CHECK_THROWS_WITH(t.send("\xc3\xa9"
                           "ric@example.com",
                           "a@example.com", "x"),
                    Catch::Contains("From"));
  // An internationalised domain is fine: it has an ASCII form.
  CHECK_NOTHROW(t.send("alice@example.com",
                       "someone@b\xc3\xbc"
                       "cher.example",
                       "x"));
}

TEST_CASE("a mail to more recipients than the server takes goes out in several transactions", "[mail][send][isolation]") {
  MailHost t;
  auto lock = t.host->db().lock();
  t.custom_servers(true);
  const auto server = t.postfix_server("Alice", "alice@example.com");
  // Postfix takes at most 1 000 recipients per transaction (smtpd_recipient_limit) and answers
  // 452 for the rest: without splitting, 200 of these would never get the mail.
  const auto [rcpts, to] = unique_mailboxes("many", 1200);
  t.write_server(server, {{"max_recipients", 500}});
  const auto id = t.send("alice@example.com", to, "to 1200");
  const auto report = t.process();
  CHECK(report.sent == 1);
  const auto m = t.mail(id);
  INFO(m.dump());
  CHECK(m["state"] == "sent");
  CHECK(m["failure_reason"].is_null());  // no recipient refused
  CHECK(report.connections == 1);
  for (const auto& r : {rcpts.front(), rcpts[499], rcpts[500], rcpts[1000], rcpts.back()}) {
    CHECK(eventually([&] { return t.stack.mailbox(r).size() == 1; }, 20000));
  }
}

TEST_CASE("10 000 recipients go out in transactions of max_recipients and each gets the mail once",
          "[mail][send][isolation][bulk]") {
  MailHost t;
  auto lock = t.host->db().lock();
  t.custom_servers(true);
  const auto server = t.postfix_server("Alice", "alice@example.com");
  t.write_server(server, {{"max_recipients", 500}});
  // 10 000 distinct addresses, one mailbox: Dovecot files "bulk+N@" under "bulk@" (its
  // recipient delimiter), so the count at Dovecot is the number of recipients served.
  const std::string box = unique_mailbox("bulk");
  const std::string local = box.substr(0, box.find('@'));
  std::string bcc;
  for (int i = 1; i < 10000; ++i) bcc += (bcc.empty() ? "" : ",") + local + "+" + std::to_string(i) + "@example.com";
  mail::Draft d;
  d.email_from = "alice@example.com";
  d.email_to = box;
  d.email_bcc = bcc;
  d.subject = "to 10 000";
  d.body_text = "bulk";
  auto e = t.env();
  const auto id = mail::enqueue(e, d);
  const int before = t.stack.smtp_connections();
  const auto report = t.process();
  CHECK(report.sent == 1);
  const auto m = t.mail(id);
  CHECK(m["state"] == "sent");
  CHECK(m["failure_reason"].is_null());             // Postfix took every recipient
  CHECK(t.stack.smtp_connections() - before == 1);  // 20 transactions on one session
  CHECK(eventually([&] { return t.stack.count(box) >= 10000; }, 240000));
  CHECK(t.stack.count(box) == 10000);  // none twice
}

TEST_CASE("a split mail resumes after the recipients that already received it", "[mail][send][isolation]") {
  MailHost t;
  auto lock = t.host->db().lock();
  t.custom_servers(true);
  const auto server = t.postfix_server("Alice", "alice@example.com");
  t.write_server(server, {{"max_recipients", 2}});
  const auto [rcpts, to] = unique_mailboxes("resume", 5);
  const auto id = t.send("alice@example.com", to, "resume");
  // An earlier run delivered the first two transactions (4 recipients), then died.
  t.host->db().session() << "UPDATE mail_mail SET recipients_done = 4 WHERE id = :id", soci::use(id);
  CHECK(t.process().sent == 1);
  REQUIRE(eventually([&] { return t.stack.mailbox(rcpts[4]).size() == 1; }));
  for (int i = 0; i < 4; ++i) CHECK(t.stack.mailbox(rcpts[i]).empty());
}

TEST_CASE("a mail still failing after mail.queue.max_age becomes an exception with its last reason", "[mail][send][isolation]") {
  MailHost t;
  auto lock = t.host->db().lock();
  t.custom_servers(true);
  const auto server = t.postfix_server("Alice", "alice@example.com");
  t.write_server(server, {{"smtp_port", 1}});  // refused: transient
  auto run_at = [&](std::chrono::hours later) { return t.process_at(std::chrono::system_clock::now() + later); };
  auto given_up = [&](std::int64_t id) {
    const auto m = t.mail(id);
    CHECK(m["state"] == "exception");
    CHECK(has(m["failure_reason"].get<std::string>(), "mail.queue.max_age"));
    CHECK(has(m["failure_reason"].get<std::string>(), "127.0.0.1:1"));
  };
  SECTION("set to 2 days") {
    t.param("mail.queue.max_age", "2d");
    const auto id = t.send("alice@example.com", unique_mailbox("old"), "old");
    CHECK(run_at(std::chrono::hours(24)).retried == 1);
    CHECK(t.mail(id)["state"] == "outgoing");
    CHECK(run_at(std::chrono::hours(49)).failed == 1);
    given_up(id);
  }
  SECTION("unset: 5 days, Postfix's maximal_queue_lifetime") {
    const auto id = t.send("alice@example.com", unique_mailbox("aging"), "aging");
    CHECK(run_at(std::chrono::hours(119)).retried == 1);  // 4 days 23 hours: still tried
    CHECK(t.mail(id)["state"] == "outgoing");
    CHECK(run_at(std::chrono::hours(121)).failed == 1);  // 5 days 1 hour: given up
    given_up(id);
  }
}
