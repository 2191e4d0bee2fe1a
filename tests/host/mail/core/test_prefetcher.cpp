// A lane builds its next message on one thread of its own: every message of the lane on that
// thread, in order, a build's exception handed to the lane, and no job lost when the lane stops.
#include "mail/prefetcher.hpp"

#include <catch2/catch.hpp>

#include <set>
#include <stdexcept>
#include <string>
#include <thread>

using juniper::mail::Prefetcher;
using juniper::mail::Prepared;

TEST_CASE("The prefetcher builds each message on one thread beside the caller's and hands back what a build threw",
          "[prefetch]") {
  std::set<std::thread::id> builders;
  Prefetcher ahead([&](std::size_t i) {
    builders.insert(std::this_thread::get_id());
    if (i == 2) throw std::runtime_error("mail 2 cannot be read");
    Prepared p;
    p.data = "message " + std::to_string(i);
    return p;
  });
  ahead.start(0);
  CHECK(ahead.take().data == "message 0");
  ahead.start(1);
  CHECK(ahead.take().data == "message 1");
  ahead.start(2);
  CHECK_THROWS_WITH(ahead.take(), "mail 2 cannot be read");
  ahead.start(3);  // a failed build leaves the prefetcher usable
  CHECK(ahead.take().data == "message 3");
  CHECK(builders.size() == 1);
  CHECK_FALSE(builders.contains(std::this_thread::get_id()));
  ahead.start(4);
  CHECK_THROWS_AS(ahead.start(5), std::logic_error);  // one job at a time
  CHECK(ahead.take().data == "message 4");
}

TEST_CASE("A prefetcher stopped with a job in hand finishes it before it goes", "[prefetch]") {
  bool built = false;
  {
    Prefetcher ahead([&](std::size_t) {
      built = true;
      return Prepared{};
    });
    ahead.start(0);
  }  // not taken: the destructor waits for the build, which must not outlive what it uses
  CHECK(built);
}
