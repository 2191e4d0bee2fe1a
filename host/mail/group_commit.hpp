#pragma once

#include "mail/lane_helper.hpp"

#include <exception>
#include <functional>
#include <future>
#include <mutex>
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

  explicit GroupCommit(Commit commit) : commit_(std::move(commit)) {}
  // The helper, destroyed first, commits everything already posted (an outcome must not be lost).

  std::future<void> post(Item item) {
    std::promise<void> done;
    auto f = done.get_future();
    bool start = false;
    {
      std::lock_guard g(mu_);
      items_.push_back(std::move(item));
      done_.push_back(std::move(done));
      start = !queued_;  // else the errand already queued takes this item with the others
      queued_ = true;
    }
    if (start) (void)helper_.post([this] { commit_posted(); });
    return f;
  }

 private:
  void commit_posted() {
    std::vector<Item> items;
    std::vector<std::promise<void>> done;
    {
      std::lock_guard g(mu_);
      items = std::exchange(items_, {});
      done = std::exchange(done_, {});
      queued_ = false;  // what is posted from now on goes into the next call
    }
    std::exception_ptr failed;
    try {
      commit_(items);
    } catch (...) {
      failed = std::current_exception();
    }
    for (auto& d : done) failed ? d.set_exception(failed) : d.set_value();
  }

  Commit commit_;
  std::mutex mu_;
  std::vector<Item> items_;
  std::vector<std::promise<void>> done_;
  bool queued_ = false;  // a commit_posted errand is queued and has not taken the items yet
  LaneHelper helper_;    // last: joined first, while what its errands use still exists
};

}  // namespace juniper::mail
