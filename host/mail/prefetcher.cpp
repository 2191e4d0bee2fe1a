#include "mail/prefetcher.hpp"

#include <stdexcept>
#include <utility>

namespace juniper::mail {

Prefetcher::Prefetcher(std::function<Prepared(std::size_t)> build) : build_(std::move(build)), thread_([this] { loop(); }) {}

Prefetcher::~Prefetcher() {
  {
    std::lock_guard g(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void Prefetcher::start(std::size_t i) {
  {
    std::lock_guard g(mu_);
    if (job_ || done_ || failed_) throw std::logic_error("internal error: a message is already being built");
    job_ = i;
  }
  cv_.notify_all();
}

Prepared Prefetcher::take() {
  std::unique_lock l(mu_);
  cv_.wait(l, [this] { return done_.has_value() || failed_ != nullptr; });
  if (failed_) std::rethrow_exception(std::exchange(failed_, nullptr));
  Prepared p = std::move(*done_);
  done_.reset();
  return p;
}

void Prefetcher::loop() {
  std::unique_lock l(mu_);
  for (;;) {
    cv_.wait(l, [this] { return stop_ || job_.has_value(); });
    if (!job_) return;  // stopping with nothing in hand
    const std::size_t i = *job_;
    l.unlock();
    std::optional<Prepared> built;
    std::exception_ptr error;
    try {
      built.emplace(build_(i));
    } catch (...) {
      error = std::current_exception();
    }
    l.lock();
    job_.reset();
    done_ = std::move(built);
    failed_ = error;
    cv_.notify_all();
  }
}

}  // namespace juniper::mail
