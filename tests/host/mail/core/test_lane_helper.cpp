// A lane's errands (building its next messages, recording its outcomes) run on one thread of its
// own, in the order they were posted; an errand's exception reaches the lane; nothing posted is
// lost when the lane stops.
#include "mail/lane_helper.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using juniper::mail::LaneHelper;

TEST_CASE("A lane helper runs every errand on one thread beside the caller's, in order, and hands back results and exceptions",
          "[lane]") {
  std::set<std::thread::id> threads;
  std::vector<int> order;  // only the helper's thread touches it until the futures are read
  LaneHelper helper;
  std::vector<std::future<std::string>> built;
  for (int i = 0; i < 5; ++i) {
    built.push_back(helper.post([&, i] {
      threads.insert(std::this_thread::get_id());
      order.push_back(i);
      if (i == 2) throw std::runtime_error("mail 2 cannot be read");
      return "message " + std::to_string(i);
    }));
  }
  auto recorded = helper.post([&] { order.push_back(99); });
  CHECK(built[0].get() == "message 0");
  CHECK(built[1].get() == "message 1");
  CHECK_THROWS_WITH(built[2].get(), "mail 2 cannot be read");
  CHECK(built[3].get() == "message 3");  // a failed errand leaves the helper working
  CHECK(built[4].get() == "message 4");
  recorded.get();
  CHECK(order == std::vector<int>{0, 1, 2, 3, 4, 99});
  CHECK(threads.size() == 1);
  CHECK_FALSE(threads.contains(std::this_thread::get_id()));
}

TEST_CASE("A lane helper stopped with errands queued runs them all before it goes", "[lane]") {
  std::atomic<int> ran{0};
  std::promise<void> go;
  auto gate = go.get_future().share();
  {
    LaneHelper helper;
    (void)helper.post([gate] { gate.wait(); });  // holds the thread while the rest queue up
    for (int i = 0; i < 3; ++i) (void)helper.post([&] { ++ran; });
    go.set_value();
  }  // nobody waits on the futures: the destructor still runs the queued errands (an outcome to record)
  CHECK(ran == 3);
}
