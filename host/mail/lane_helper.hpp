#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>

namespace juniper::mail {

// A send lane's second thread: runs the lane's errands in the order they were posted (reading
// and building its next messages) while the lane is on the wire. One thread for the whole lane,
// not one per mail. The run's committer (GroupCommit) runs its commits on one as well.
class LaneHelper {
 public:
  LaneHelper();
  ~LaneHelper();  // runs every errand already posted (an outcome must not be lost), then joins
  LaneHelper(const LaneHelper&) = delete;
  LaneHelper& operator=(const LaneHelper&) = delete;

  // Queues `errand`; its future gives what it returned or rethrows what it threw.
  template <class F>
  std::future<std::invoke_result_t<F>> post(F errand) {
    auto task = std::make_shared<std::packaged_task<std::invoke_result_t<F>()>>(std::move(errand));
    auto done = task->get_future();
    enqueue([task] { (*task)(); });
    return done;
  }

 private:
  void enqueue(std::function<void()> errand);
  void loop();

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> errands_;
  bool stop_ = false;
  std::thread thread_;  // last: it starts once the members above exist
};

}  // namespace juniper::mail
