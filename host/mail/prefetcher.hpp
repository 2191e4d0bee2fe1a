#pragma once

#include "mail/prepare.hpp"

#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>

namespace juniper::mail {

// Builds a lane's next message on one thread of its own while the lane is on the wire: one
// thread for the whole lane (not one per mail), building the lane's messages in order, and
// gone when the lane is.
class Prefetcher {
 public:
  explicit Prefetcher(std::function<Prepared(std::size_t)> build);
  ~Prefetcher();  // lets the job in hand finish, then joins
  Prefetcher(const Prefetcher&) = delete;
  Prefetcher& operator=(const Prefetcher&) = delete;

  // Starts building message i; one job at a time: take() the previous one first.
  void start(std::size_t i);
  // The message of the last start(), once built; rethrows what its build threw.
  Prepared take();

 private:
  void loop();

  std::function<Prepared(std::size_t)> build_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<std::size_t> job_;
  std::optional<Prepared> done_;
  std::exception_ptr failed_;
  bool stop_ = false;
  std::thread thread_;  // last: it starts once the members above exist
};

}  // namespace juniper::mail
