// A service the mail application lends the module system's host calls (the message store, the
// release of waiting mails): the composition root installs it once at start, so the module
// system does not depend on the layer above it. Thread-safe; empty until installed.
#pragma once

#include <mutex>
#include <utility>

namespace juniper::modules {

template <class Fn>
class Installed {
 public:
  void set(Fn fn) {
    std::lock_guard g(mu_);
    fn_ = std::move(fn);
  }
  Fn get() const {
    std::lock_guard g(mu_);
    return fn_;
  }

 private:
  mutable std::mutex mu_;
  Fn fn_;
};

}  // namespace juniper::modules
