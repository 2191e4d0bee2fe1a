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

void LaneHelper::enqueue(std::function<void()> errand, bool urgent) {
  {
    std::lock_guard g(mu_);
    if (urgent) {
      errands_.insert(errands_.begin() + static_cast<std::ptrdiff_t>(urgent_), std::move(errand));
      ++urgent_;
    } else {
      errands_.push_back(std::move(errand));
    }
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
    if (urgent_ > 0) --urgent_;
    l.unlock();
    errand();  // a packaged_task: what it throws goes to its future
    l.lock();
  }
}

}  // namespace juniper::mail
