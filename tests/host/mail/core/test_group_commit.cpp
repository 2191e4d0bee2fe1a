// The run's committer: what lanes post while a commit runs goes into the next one, together; a
// failed commit fails exactly the items it held; nothing posted is lost when the run stops.
#include "mail/group_commit.hpp"

#include <catch2/catch.hpp>

#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

using juniper::mail::GroupCommit;

namespace {

// A commit function that records each call's items and can hold a call until released.
struct Recorder {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::vector<int>> calls;
  bool hold = true;    // the first call waits for release()
  int fail_call = -1;  // this call (0-based) throws

  void commit(std::vector<int>& items) {
    std::unique_lock l(mu);
    calls.push_back(items);
    const int n = static_cast<int>(calls.size()) - 1;
    cv.notify_all();
    cv.wait(l, [&] { return !hold; });
    if (n == fail_call) throw std::runtime_error("disk I/O error");
  }
  void wait_calls(std::size_t n) {
    std::unique_lock l(mu);
    cv.wait(l, [&] { return calls.size() >= n; });
  }
  void release() {
    std::lock_guard g(mu);
    hold = false;
    cv.notify_all();
  }
};

}  // namespace

TEST_CASE("A group commit takes what was posted during a commit together into the next one", "[lane]") {
  Recorder r;
  GroupCommit<int> committer([&](std::vector<int>& items) { r.commit(items); });
  auto first = committer.post(1);
  r.wait_calls(1);  // the first commit runs, held
  std::vector<std::future<void>> later;
  for (int i = 2; i <= 4; ++i) later.push_back(committer.post(i));
  CHECK(later[0].wait_for(std::chrono::seconds(0)) == std::future_status::timeout);  // not committed yet
  r.release();
  first.get();
  for (auto& f : later) f.get();
  CHECK(r.calls == std::vector<std::vector<int>>{{1}, {2, 3, 4}});
}

TEST_CASE("A failed group commit fails the items it held, and only those", "[lane]") {
  Recorder r;
  r.fail_call = 1;
  GroupCommit<int> committer([&](std::vector<int>& items) { r.commit(items); });
  auto first = committer.post(1);
  r.wait_calls(1);
  auto second = committer.post(2);
  auto third = committer.post(3);
  r.release();
  first.get();
  CHECK_THROWS_WITH(second.get(), "disk I/O error");
  CHECK_THROWS_WITH(third.get(), "disk I/O error");
  auto fourth = committer.post(4);  // the committer goes on after a failure
  fourth.get();
  CHECK(r.calls == std::vector<std::vector<int>>{{1}, {2, 3}, {4}});
}

TEST_CASE("A group commit stopped with items posted commits them before it goes", "[lane]") {
  Recorder r;
  {
    GroupCommit<int> committer([&](std::vector<int>& items) { r.commit(items); });
    (void)committer.post(1);
    r.wait_calls(1);
    (void)committer.post(2);
    (void)committer.post(3);
    r.release();
  }  // nobody waits on the futures: the destructor still commits 2 and 3 (outcomes to record)
  CHECK(r.calls == std::vector<std::vector<int>>{{1}, {2, 3}});
}
