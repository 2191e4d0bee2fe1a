// Servers whose module delivers each mail itself (SDK 1.3: mail.transport answers
// {"delivery": "module"}, then mail.deliver per mail): what the host does with each outcome.
// The test_ext module plays the mail API; its answer is the parameter test_ext.deliver.
#include "core/crypto.hpp"
#include "mail/attachment_store.hpp"
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
                             {{"name", "Token server"},
                              {"smtp_authentication", "test_token"},
                              {"smtp_host", "127.0.0.1"},
                              {"smtp_port", t.stack["SMTP_PORT"]},
                              {"smtp_encryption", "starttls"},
                              {"from_filter", "token.example.com"},
                              {"sequence", 1}});
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

TEST_CASE("max_per_minute: a paced server takes that many mails per rolling minute, the rest wait their turn", "[mail][pacing]") {
  ApiHost t;
  auto lock = t.host->db().lock();
  t.write_server(t.server, {{"max_per_minute", 3}, {"max_connections", 2}});
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 7; ++i) ids.push_back(t.send("shop@example.com", "p@example.org", "paced " + std::to_string(i)));
  const auto at = std::chrono::system_clock::now();

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
  CHECK(t.process_at(at + std::chrono::seconds(30)).sent == 0);  // the same minute: still spent
  CHECK(t.process_at(at + std::chrono::seconds(62)).sent == 3);
  CHECK(t.process_at(at + std::chrono::seconds(124)).sent == 1);
  for (const auto id : ids) CHECK(t.mail(id)["state"] == "sent");  // none refused, none lost
}

TEST_CASE("max_recipients_per_day: a server's recipients over a rolling 24 hours stay within its budget", "[mail][pacing]") {
  ApiHost t;
  auto lock = t.host->db().lock();
  t.write_server(t.server, {{"max_recipients_per_day", 5}});
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 4; ++i)
    ids.push_back(t.send("shop@example.com", "a@example.org, b@example.org", "day " + std::to_string(i)));
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
  CHECK(t.process_at(at + std::chrono::hours(12)).sent == 0);  // still inside the same 24 hours
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
  CHECK(seen[0]["attachments"][0] ==
        json({{"index", 0}, {"filename", "big.txt"}, {"content_type", "text/plain"}, {"size", big.size()}}));
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

namespace {
std::string lines(std::size_t bytes, const std::string& tag) {
  std::string s;
  for (int i = 0; s.size() < bytes; ++i) s += tag + " line " + std::to_string(i) + "\n";
  s.resize(bytes);
  return s;
}
}  // namespace

TEST_CASE("attachments are stored beside the mail in pieces, read by range, and go with their mail",
          "[mail][module-delivery][attachment-store]") {
  ApiHost t;
  auto lock = t.host->db().lock();
  const std::string big = lines(2 * mail::kAttachmentPiece + 12345, "big");  // three pieces
  const auto id = t.enqueue_with("Stored", {{"big.txt", "text/plain", big}, {"empty.bin", "", ""}});
  auto e = t.env();
  // The row keeps names and sizes only: a page or a claim never reads the bytes.
  const auto row = json::parse(t.mail(id)["attachments"].get<std::string>());
  CHECK(row == json::array({{{"filename", "big.txt"}, {"content_type", "text/plain"}, {"size", big.size()}},
                            {{"filename", "empty.bin"}, {"content_type", ""}, {"size", 0}}}));
  // Ranges across piece boundaries, and past the end.
  const std::size_t edge = mail::kAttachmentPiece - 5;
  CHECK(mail::read_attachment(e, id, 0, edge, 10) == big.substr(edge, 10));
  CHECK(mail::read_attachment(e, id, 0, 0, big.size() + 100) == big);
  CHECK(mail::read_attachment(e, id, 0, big.size() - 3, 100) == big.substr(big.size() - 3));
  CHECK(mail::read_attachment(e, id, 0, big.size(), 100).empty());
  CHECK(mail::read_attachment(e, id, 1, 0, 100).empty());
  // The message built for SMTP-less delivery (nothing apart) has them inline, whole.
  CHECK(t.process().sent == 1);
  const auto seen = t.delivered({id});
  REQUIRE(seen.size() == 1);
  CHECK_FALSE(seen[0].contains("attachments"));
  CHECK(seen[0]["message_size"].get<std::size_t>() > big.size());
  // Deleting the mail drops its pieces in the same transaction.
  records::remove(e, mail::kMail, id);
  long long pieces = -1;
  e.sql() << "SELECT COUNT(*) FROM mail_attachment_piece WHERE mail_id = :m", soci::use(static_cast<long long>(id)),
      soci::into(pieces);
  CHECK(pieces == 0);
}

TEST_CASE("an attachment queued from a file is read into the store in pieces; a missing file queues nothing",
          "[mail][attachment-store]") {
  ApiHost t;
  auto lock = t.host->db().lock();
  const std::string big = lines(mail::kAttachmentPiece * 2, "file");  // exactly two pieces
  const auto path = t.dir / "scan.txt";
  std::ofstream(path, std::ios::binary) << big;
  const auto id = t.enqueue_with("From a file", {{"scan.txt", "text/plain", "", path.string()}});
  auto e = t.env();
  CHECK(json::parse(t.mail(id)["attachments"].get<std::string>())[0]["size"] == big.size());
  CHECK(mail::read_attachment(e, id, 0, 0, big.size() + 1) == big);
  long long pieces = 0;
  e.sql() << "SELECT COUNT(*) FROM mail_attachment_piece WHERE mail_id = :m", soci::use(static_cast<long long>(id)),
      soci::into(pieces);
  CHECK(pieces == 2);
  const auto before = records::search(e, mail::kMail, json::object()).size();
  CHECK_THROWS_WITH(t.enqueue_with("Missing", {{"gone.pdf", "", "", (t.dir / "gone.pdf").string()}}),
                    Catch::Contains("cannot read the attachment") && Catch::Contains("gone.pdf"));
  CHECK(records::search(e, mail::kMail, json::object()).size() == before);
}

TEST_CASE("message_max: the largest attachments are handed apart until the message fits", "[mail][module-delivery]") {
  ApiHost t;
  auto lock = t.host->db().lock();
  {
    auto e = t.env();
    records::param_set(e, "test_ext.message_max", "400000");
  }
  const std::string a300 = lines(300000, "a"), a200 = lines(200000, "b"), a100 = lines(100000, "c"), a10 = lines(10000, "d");
  const auto id = t.enqueue_with("Many", {{"c.txt", "text/plain", a100},
                                          {"a.txt", "text/plain", a300},
                                          {"d.txt", "text/plain", a10},
                                          {"b.txt", "text/plain", a200}});
  CHECK(t.process().sent == 1);
  const auto seen = t.delivered({id});
  REQUIRE(seen.size() == 1);
  // Base64 makes 820 kB of the four: the 300 and 200 kB ones go apart, in the mail's order.
  REQUIRE(seen[0]["attachments"].size() == 2);
  CHECK(seen[0]["attachments"][0]["filename"] == "a.txt");
  CHECK(seen[0]["attachments"][1]["filename"] == "b.txt");
  CHECK(seen[0]["read"] == json::array({a300, a200}));
  CHECK(seen[0]["message_size"].get<std::size_t>() < 400000);
  CHECK(seen[0]["message_size"].get<std::size_t>() > 110000 * 4 / 3);  // the other two are in it
}

TEST_CASE("message_max: the estimate counts base64's line breaks, so a message just under the limit really is",
          "[mail][module-delivery]") {
  ApiHost t;
  auto lock = t.host->db().lock();
  constexpr std::size_t kMax = 400'000;
  {
    auto e = t.env();
    records::param_set(e, "test_ext.message_max", std::to_string(kMax));
  }
  // 4/3 of it (392 000) fits under the limit; with base64's CRLF every 76 characters (402 316) it
  // does not: counted as 4/3, it would stay in a message over the limit.
  const std::string pdf = lines(294'000, "scan");  // attachments always go as base64
  const auto id = t.enqueue_with("Nearly at the limit", {{"scan.pdf", "application/pdf", pdf}});
  CHECK(t.process().sent == 1);
  INFO(t.mail(id).value("failure_reason", nlohmann::json()).dump());
  const auto seen = t.delivered({id});
  REQUIRE(seen.size() == 1);
  CHECK(seen[0]["message_size"].get<std::size_t>() <= kMax);
  REQUIRE(seen[0]["attachments"].size() == 1);  // handed apart rather than overflowing
}

TEST_CASE("a mail queued before the attachment store (bytes inline in its row) is still sent whole",
          "[mail][module-delivery][attachment-store]") {
  ApiHost t;
  auto lock = t.host->db().lock();
  const std::string big = lines(50000, "old");
  std::int64_t id = 0;
  {
    auto e = t.env();
    records::param_set(e, "test_ext.apart_above", "1000");
    const json atts =
        json::array({{{"filename", "old.txt"}, {"content_type", "text/plain"}, {"data", juniper::crypto::base64(big)}},
                     {{"filename", "tiny.txt"}, {"content_type", "text/plain"}, {"data", juniper::crypto::base64("hi")}}});
    id = records::create(e, mail::kMail,
                         {{"email_from", "shop@example.com"},
                          {"email_to", "a@example.org"},
                          {"subject", "Old"},
                          {"body_text", "x"},
                          {"state", "outgoing"},
                          {"create_date", mail::iso_time(std::chrono::system_clock::now())},
                          {"message_id", "<old-row@example.com>"},
                          {"attachments", atts.dump()}});
  }
  CHECK(t.process().sent == 1);
  const auto seen = t.delivered({id});
  REQUIRE(seen.size() == 1);
  REQUIRE(seen[0]["attachments"].size() == 1);
  CHECK(seen[0]["read"] == json::array({big}));
  CHECK(seen[0]["message_size"].get<std::size_t>() < 10000);  // the large one is not in it
}
