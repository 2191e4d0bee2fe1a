// Failed-attempt throttling (logins): per key (a client address, a login name), a few free
// failures, then a growing wait (first_delay, doubling up to max_delay) during which attempts
// are refused without being tried. The table is bounded: entries are forgotten after
// forget_after without a failure, and past max_entries the stalest are dropped.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace juniper::http {

struct ThrottleOptions {
  unsigned free_failures = 5;
  std::chrono::seconds first_delay{1};
  std::chrono::seconds max_delay{300};
  std::chrono::seconds forget_after{900};
  std::size_t max_entries = 10000;
  std::size_t max_key = 128;                                   // longer keys are cut (bounds memory; shared prefixes share)
  std::function<std::chrono::steady_clock::time_point()> now;  // injectable for tests
};

class Throttle {
 public:
  explicit Throttle(ThrottleOptions opts = {});

  // 0 when `key` may try now. Otherwise how long to wait (rounded up to whole seconds);
  // the refused attempt is not counted.
  std::chrono::seconds wait(std::string_view key);
  // Counts a failed attempt (callers count before checking the password, so attempts in
  // parallel are all counted, then call success() when it was right). Returns the wait it
  // imposes from now on (0 while failures are still free): callers log that, once per lock,
  // rather than every refused attempt.
  std::chrono::seconds failure(std::string_view key);
  void success(std::string_view key);
  std::size_t size() const;

 private:
  struct Entry {
    unsigned failures = 0;
    std::chrono::steady_clock::time_point last;
    std::chrono::steady_clock::time_point locked_until;
  };
  std::string key_of(std::string_view key) const;
  void make_room(std::chrono::steady_clock::time_point now);

  ThrottleOptions opts_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace juniper::http
