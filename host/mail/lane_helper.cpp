#include "mail/lane_helper.hpp"

#include <utility>

namespace juniper::mail {

LaneHelper::LaneHelper() : thread_([this] { loop(); }) {}

LaneHelper::~LaneHelper() {
  {
    std::lock_guard g(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void LaneHelper::enqueue(std::function<void()> errand) {
  {
    std::lock_guard g(mu_);
    errands_.push_back(std::move(errand));
  }
  cv_.notify_all();
}

void LaneHelper::loop() {
  std::unique_lock l(mu_);
  for (;;) {
    cv_.wait(l, [this] { return stop_ || !errands_.empty(); });
    if (errands_.empty()) return;  // stopping, nothing left
    auto errand = std::move(errands_.front());
    errands_.pop_front();
    l.unlock();
    errand();  // a packaged_task: what it throws goes to its future
    l.lock();
  }
}

}  // namespace juniper::mail
