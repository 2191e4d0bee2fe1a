// Servers whose module delivers each mail itself (SDK 1.3: mail.transport answers
// {"delivery": "module"}, then mail.deliver per mail): what the host does with each outcome.
// The test_ext module plays the mail API; its answer is the parameter test_ext.deliver.
#include "mail_fixture.hpp"
#include "modules/bridge.hpp"
#include "modules/outbox.hpp"
#include "records/params.hpp"

#include <catch2/catch.hpp>

using juniper::test::has;
using juniper::test::MailHost;
using json = nlohmann::json;
namespace mail = juniper::mail;
namespace records = juniper::records;

namespace {

struct ApiHost : MailHost {
  std::int64_t server = 0;
  ApiHost() {
    auto lock = host->db().lock();
    host->modules().install({"test_ext"});
    custom_servers(true);
    auto e = env();
    server = records::create(e, mail::kOutgoingServer,
                             {{"name", "Mail API"}, {"smtp_authentication", "test_api"}, {"from_filter", "example.com"}});
  }
  // What the module was given for each of `ids` it was asked to deliver.
  json delivered(const std::vector<std::int64_t>& ids) {
    auto e = env();
    json seen = json::array();
    for (const auto id : ids) {
      if (const auto v = records::param_get(e, "test_ext.delivered." + std::to_string(id))) seen.push_back(json::parse(*v));
    }
    return seen;
  }
  // A queue run at `when` (the clock pacing counts with).
  mail::SendReport process_at(std::chrono::system_clock::time_point when) {
    auto e = env();
    mail::SenderOptions o;
    o.clock = [when] { return when; };
    return mail::Sender(e, host->modules().hooks(), conf()).process(o);
  }
  std::chrono::seconds wait_of(const json& m) {
    return -mail::age_of(m["next_try"].get<std::string>(), std::chrono::system_clock::now());
  }
  // A mail from shop@ to a@example.org with `attachments`.
  std::int64_t enqueue_with(const std::string& subject, std::vector<mail::AttachmentFile> attachments) {
    auto e = env();
    mail::Draft d;
    d.email_from = "shop@example.com";
    d.email_to = "a@example.org";
    d.subject = subject;
    d.body_text = "see attached";
    d.attachments = std::move(attachments);
    return mail::enqueue(e, d);
  }
};

}  // namespace

TEST_CASE("module delivery: sent mails carry the envelope, the Bcc apart and the built message", "[mail][module-delivery]") {
  ApiHost t;
  auto lock = t.host->db().lock();
  std::int64_t id = 0;
  {
    auto e = t.env();
    mail::Draft d;
    d.email_from = "shop@example.com";
    d.email_to = "a@example.org";
    d.email_cc = "b@example.org";
    d.email_bcc = "hidden@example.org";
    d.subject = "By API";
    d.body_text = "hello";
    id = mail::enqueue(e, d);
  }
  const auto report = t.process();
  CHECK(report.sent == 1);
  CHECK(report.connections == 0);  // no SMTP session
  const auto m = t.mail(id);
  CHECK(m["state"] == "sent");
  CHECK(m["server_used_id"] == t.server);
  const auto seen = t.delivered({id});
  REQUIRE(seen.size() == 1);
  CHECK(seen[0]["id"] == t.server);
  CHECK(seen[0]["mail_id"] == id);
  CHECK(seen[0]["from"] == "shop@example.com");
  CHECK(seen[0]["to"] == json::array({"a@example.org", "b@example.org"}));
  CHECK(seen[0]["bcc"] == json::array({"hidden@example.org"}));
  CHECK(seen[0]["has_message_id"] == true);
}

TEST_CASE("module delivery: each outcome becomes the mail's state, and a throttle holds the rest of the batch",
          "[mail][module-delivery]") {
  ApiHost t;
  auto lock = t.host->db().lock();
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 3; ++i) ids.push_back(t.send("shop@example.com", "c@example.org", "mail " + std::to_string(i)));

  SECTION("throttled: every mail of the server waits retry_after, no attempt counted, asked once") {
    t.param("test_ext.deliver", R"({"outcome": "throttled", "retry_after": 90, "reason": "slow down"})");
    CHECK(t.process().sent == 0);
    CHECK(t.delivered(ids).size() == 1);  // the rest of the batch was not sent into the throttle
    for (const auto id : ids) {
      const auto m = t.mail(id);
      INFO(m.dump());
      CHECK(m["state"] == "outgoing");
      CHECK(m["attempts"] == 0);
      CHECK(has(m["failure_reason"].get<std::string>(), "slow down"));
      CHECK(has(m["failure_reason"].get<std::string>(), "Mail API"));  // which server
      CHECK(t.wait_of(m) > std::chrono::seconds(80));
      CHECK(t.wait_of(m) <= std::chrono::seconds(90));
    }
  }
  SECTION("retry: an attempt is counted, the back-off applies, the others still go") {
    t.param("test_ext.deliver", R"({"outcome": "retry", "reason": "busy"})");
    CHECK(t.process().sent == 0);
    CHECK(t.delivered(ids).size() == 3);
    for (const auto id : ids) CHECK(t.mail(id)["attempts"] == 1);
  }
  SECTION("failed: that mail is an exception with the reason") {
    t.param("test_ext.deliver", R"({"outcome": "failed", "reason": "refused recipient"})");
    t.process();
    for (const auto id : ids) {
      CHECK(t.mail(id)["state"] == "exception");
      CHECK(has(t.mail(id)["failure_reason"].get<std::string>(), "refused recipient"));
    }
  }
  SECTION("wait: a configuration to fix holds the server's mails without counting attempts") {
    t.param("test_ext.deliver", R"({"outcome": "wait", "reason": "reconnect the account"})");
    t.process();
    CHECK(t.delivered(ids).size() == 1);
    for (const auto id : ids) {
      CHECK(t.mail(id)["state"] == "outgoing");
      CHECK(t.mail(id)["attempts"] == 0);
    }
  }
  SECTION("a module error: temporary is retried, anything else waits; the run goes on") {
    t.param("test_ext.deliver", R"({"throw": 6, "reason": "service down"})");
    const auto report = t.process();
    CHECK(report.retried == 3);
    CHECK(has(t.mail(ids[0])["failure_reason"].get<std::string>(), "service down"));
    CHECK(t.mail(ids[0])["attempts"] == 1);
  }
}

TEST_CASE("a refused login explained by the server's module: the mails wait for the fix, no attempt counted",
          "[mail][module-delivery]") {
  ApiHost t;
  auto lock = t.host->db().lock();
  std::int64_t server = 0;
  {
    auto e = t.env();
    server = records::create(e, mail::kOutgoingServer,
                             {{"name", "Token server"}, {"smtp_authentication", "test_token"}, {"smtp_host", "127.0.0.1"},
                              {"smtp_port", t.stack["SMTP_PORT"]}, {"smtp_encryption", "starttls"},
                              {"from_filter", "token.example.com"}, {"sequence", 1}});
  }
  t.param("test_ext.token_login", R"({"auth": "password", "user": "alice@example.com", "secret": "wrong"})");
  const auto a = t.send("me@token.example.com", "x@example.org", "one");
  const auto b = t.send("me@token.example.com", "x@example.org", "two");
  t.process();
  for (const auto id : {a, b}) {
    const auto m = t.mail(id);
    INFO(m.dump());
    CHECK(m["state"] == "outgoing");
    CHECK(m["attempts"] == 0);
    CHECK(has(m["failure_reason"].get<std::string>(), "explained by test_ext: 535"));
    CHECK(has(m["failure_reason"].get<std::string>(), "Token server"));
  }
  (void)server;
}

TEST_CASE("max_per_minute: a paced server takes that many mails per rolling minute, the rest wait their turn",
          "[mail][pacing]") {
  ApiHost t;
  auto lock = t.host->db().lock();
  t.write_server(t.server, {{"max_per_minute", 3}, {"max_connections", 2}});
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 7; ++i) ids.push_back(t.send("shop@example.com", "p@example.org", "paced " + std::to_string(i)));
  auto at = std::chrono::system_clock::now();
  auto release = [&] { t.host->db().session() << "UPDATE mail_mail SET next_try = NULL WHERE state = 'outgoing'"; };

  auto first = t.process_at(at);
  CHECK(first.sent == 3);  // both lanes together stay within the budget
  CHECK(first.retried == 4);
  for (const auto id : ids) {
    const auto m = t.mail(id);
    if (m["state"] == "sent") continue;
    INFO(m.dump());
    CHECK(m["attempts"] == 0);
    CHECK(has(m["failure_reason"].get<std::string>(), "at most 3 mails per minute"));
    CHECK(t.wait_of(m) > std::chrono::seconds(50));  // when the window frees up
  }
  release();
  CHECK(t.process_at(at + std::chrono::seconds(30)).sent == 0);  // the same minute: still spent
  release();
  CHECK(t.process_at(at + std::chrono::seconds(62)).sent == 3);
  release();
  CHECK(t.process_at(at + std::chrono::seconds(124)).sent == 1);
  for (const auto id : ids) CHECK(t.mail(id)["state"] == "sent");  // none refused, none lost
}

TEST_CASE("max_recipients_per_day: a server's recipients over a rolling 24 hours stay within its budget",
          "[mail][pacing]") {
  ApiHost t;
  auto lock = t.host->db().lock();
  t.write_server(t.server, {{"max_recipients_per_day", 5}});
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 4; ++i) ids.push_back(t.send("shop@example.com", "a@example.org, b@example.org", "day " + std::to_string(i)));
  const auto at = std::chrono::system_clock::now();
  CHECK(t.process_at(at).sent == 2);  // 4 recipients; a third mail would make 6
  std::size_t held = 0;
  for (const auto id : ids) {
    const auto m = t.mail(id);
    if (m["state"] == "sent") {
      CHECK(m["recipient_count"] == 2);
      continue;
    }
    ++held;
    INFO(m.dump());
    CHECK(m["attempts"] == 0);
    CHECK(has(m["failure_reason"].get<std::string>(), "5 recipients per 24 hours"));
    CHECK(t.wait_of(m) > std::chrono::hours(23));
  }
  CHECK(held == 2);
  t.host->db().session() << "UPDATE mail_mail SET next_try = NULL WHERE state = 'outgoing'";
  CHECK(t.process_at(at + std::chrono::hours(12)).sent == 0);  // still inside the same 24 hours
  t.host->db().session() << "UPDATE mail_mail SET next_try = NULL WHERE state = 'outgoing'";
  CHECK(t.process_at(at + std::chrono::hours(24) + std::chrono::seconds(5)).sent == 2);
}

TEST_CASE("module delivery: attachments over the module's limit are handed apart and read in pieces", "[mail][module-delivery]") {
  ApiHost t;
  auto lock = t.host->db().lock();
  std::string big;
  for (int i = 0; big.size() < 100000; ++i) big += "line " + std::to_string(i) + "\n";
  {
    auto e = t.env();
    records::param_set(e, "test_ext.apart_above", "1000");
  }
  const auto id = t.enqueue_with("Big", {{"small.txt", "text/plain", "tiny"}, {"big.txt", "text/plain", big}});
  CHECK(t.process().sent == 1);
  const auto seen = t.delivered({id});
  REQUIRE(seen.size() == 1);
  INFO(seen[0].dump().substr(0, 600));
  // The small one stays in the MIME; the big one is listed apart and is not in the message.
  REQUIRE(seen[0]["attachments"].size() == 1);
  CHECK(seen[0]["attachments"][0] == json({{"index", 0}, {"filename", "big.txt"}, {"content_type", "text/plain"}, {"size", big.size()}}));
  CHECK(seen[0]["message_size"].get<std::size_t>() < 10000);
  CHECK(seen[0]["read"] == json::array({big}));  // every byte, in order, through the host call
  CHECK(seen[0]["index_99"] == JUNIPER_ERR_NOT_FOUND);
  // The loan ends with the call: nothing is readable afterwards.
  std::string out;
  juniper_sink sink{&out, [](void* u, const char* d, size_t n) { static_cast<std::string*>(u)->append(d, n); }};
  juniper::modules::ErrorBox box;
  CHECK(juniper::modules::mail_attachment_read(nullptr, id, 0, 0, 10, &sink, &box.err) == JUNIPER_ERR_NOT_FOUND);
  CHECK(out.empty());
}

TEST_CASE("module delivery: without the module asking, attachments stay in the message", "[mail][module-delivery]") {
  ApiHost t;
  auto lock = t.host->db().lock();
  const auto id = t.enqueue_with("Whole", {{"big.txt", "text/plain", std::string(50000, 'x')}});
  CHECK(t.process().sent == 1);
  const auto seen = t.delivered({id});
  REQUIRE(seen.size() == 1);
  CHECK_FALSE(seen[0].contains("attachments"));
  CHECK(seen[0]["message_size"].get<std::size_t>() > 50000);
}
