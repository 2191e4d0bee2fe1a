// Named claims (SDK 1.2 claim_acquire/claim_release): one holder at a time, across connections,
// freed by release or by expiry; on SQLite and PostgreSQL (JUNIPER_TEST_DB).
#include "test_host.hpp"

#include "records/claims.hpp"

#include <catch2/catch.hpp>

#include <thread>

using juniper::test::TestHost;
namespace records = juniper::records;

TEST_CASE("a claim has one holder until it is released or runs out", "[claims]") {
  TestHost t;
  auto& db = t.host->db();
  const auto first = records::claim_acquire(db, "refresh:server:1", std::chrono::seconds(30));
  REQUIRE(first);
  CHECK_FALSE(records::claim_acquire(db, "refresh:server:1", std::chrono::seconds(30)));
  CHECK(records::claim_acquire(db, "refresh:server:2", std::chrono::seconds(30)));  // another name is free

  // Another thread (its own connection) sees it held too.
  bool other = true;
  std::thread([&] { other = records::claim_acquire(db, "refresh:server:1", std::chrono::seconds(30)).has_value(); }).join();
  CHECK_FALSE(other);

  records::claim_release(db, "refresh:server:1", "not-the-holder");  // a stranger cannot free it
  CHECK_FALSE(records::claim_acquire(db, "refresh:server:1", std::chrono::seconds(30)));
  records::claim_release(db, "refresh:server:1", *first);
  const auto second = records::claim_acquire(db, "refresh:server:1", std::chrono::seconds(30));
  REQUIRE(second);

  // A holder that died: its time runs out and the next caller takes the claim over.
  const auto later = std::chrono::system_clock::now() + std::chrono::seconds(31);
  const auto third = records::claim_acquire(db, "refresh:server:1", std::chrono::seconds(30), later);
  REQUIRE(third);
  records::claim_release(db, "refresh:server:1", *second);  // the old holder's late release changes nothing
  CHECK_FALSE(records::claim_acquire(db, "refresh:server:1", std::chrono::seconds(30)));
}
