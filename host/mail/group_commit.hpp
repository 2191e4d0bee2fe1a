#pragma once

#include <condition_variable>
#include <exception>
#include <functional>
#include <future>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace juniper::mail {

// Commits what several send lanes post in as few transactions as it can: one thread takes every
// item posted so far and hands them to `commit` together (one transaction, one write lock); items
// posted meanwhile wait for the next call. With four lanes each committing its own outcomes, the
// lanes queued for SQLite's write lock at their next mail's dot; together they pay for one commit.
// Each item's future is ready once its call returned, and rethrows what that call threw.
template <class Item>
class GroupCommit {
 public:
  using Commit = std::function<void(std::vector<Item>&)>;

  explicit GroupCommit(Commit commit) : commit_(std::move(commit)), thread_([this] { loop(); }) {}
  ~GroupCommit() {  // commits everything already posted (an outcome must not be lost), then joins
    {
      std::lock_guard g(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  GroupCommit(const GroupCommit&) = delete;
  GroupCommit& operator=(const GroupCommit&) = delete;

  std::future<void> post(Item item) {
    std::promise<void> done;
    auto f = done.get_future();
    {
      std::lock_guard g(mu_);
      items_.push_back(std::move(item));
      done_.push_back(std::move(done));
    }
    cv_.notify_all();
    return f;
  }

 private:
  void loop() {
    std::unique_lock l(mu_);
    for (;;) {
      cv_.wait(l, [this] { return stop_ || !items_.empty(); });
      if (items_.empty()) return;  // stopping, nothing left
      std::vector<Item> items = std::exchange(items_, {});
      std::vector<std::promise<void>> done = std::exchange(done_, {});
      l.unlock();
      std::exception_ptr failed;
      try {
        commit_(items);
      } catch (...) {
        failed = std::current_exception();
      }
      for (auto& d : done) failed ? d.set_exception(failed) : d.set_value();
      l.lock();
    }
  }

  Commit commit_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Item> items_;
  std::vector<std::promise<void>> done_;
  bool stop_ = false;
  std::thread thread_;  // last: it starts once the members above exist
};

}  // namespace juniper::mail
