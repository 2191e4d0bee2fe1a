// Exchange Online's message rate limit, kept by the queue: a burst to a paced server goes out at
// the server's pace through the real Postfix, none refused and none lost. The queue's clock is
// moved, not waited on.
#include "mail_fixture.hpp"

#include <catch2/catch.hpp>

using juniper::test::eventually;
using juniper::test::has;
using juniper::test::MailHost;
using juniper::test::unique_mailbox;
namespace mail = juniper::mail;

TEST_CASE("pacing: 120 mails to a server limited to 60 per minute go out in two minutes, none refused", "[mail][pacing][send]") {
  MailHost t;
  auto lock = t.host->db().lock();
  t.custom_servers(true);
  const auto server = t.postfix_server("Paced", "alice@example.com");
  t.write_server(server, {{"max_per_minute", 60}, {"max_connections", 2}});
  const std::string rcpt = unique_mailbox("paced");
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 120; ++i) ids.push_back(t.send("alice@example.com", rcpt, "paced " + std::to_string(i)));
  const auto start = std::chrono::system_clock::now();
  auto states = [&] {
    std::map<std::string, int> n;
    for (const auto id : ids) ++n[t.mail(id)["state"].get<std::string>()];
    return n;
  };

  const auto first = t.process_at(start);
  CHECK(first.sent == 60);  // the first minute's budget, over both connections together
  for (const auto id : ids) {
    const auto m = t.mail(id);
    if (m["state"] == "sent") continue;
    CHECK(m["state"] == "outgoing");
    CHECK(m["attempts"] == 0);  // waiting its turn is no failure
    CHECK(has(m["failure_reason"].get<std::string>(), "at most 60 mails per minute"));
    const auto due = -mail::age_of(m["next_try"].get<std::string>(), start);
    CHECK(due >= std::chrono::seconds(55));  // when the first minute has passed, not sooner
    CHECK(due <= std::chrono::seconds(65));  // and not much later
  }
  CHECK(t.process_at(start + std::chrono::seconds(30)).sent == 0);  // nothing is due yet
  CHECK(t.process_at(start + std::chrono::seconds(65)).sent == 60);
  CHECK(states() == std::map<std::string, int>{{"sent", 120}});
  // Postfix took every one (no 4xx, no refusal) and Dovecot has each once.
  REQUIRE(eventually([&] { return t.stack.count(rcpt) >= 120; }, 60000));
  CHECK(t.stack.count(rcpt) == 120);
}
