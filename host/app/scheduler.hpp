// What `juniper serve` runs in the background: the outgoing queue every mail.queue.interval
// seconds (default 60, and at once when woken by a new mail) and incoming servers every
// mail.fetch.interval seconds (default 300). One thread, owned by the host.
#pragma once

#include "app/host.hpp"

#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>

namespace juniper {

class MailScheduler {
 public:
  explicit MailScheduler(Host& host);
  ~MailScheduler();  // stops and joins
  MailScheduler(const MailScheduler&) = delete;
  MailScheduler& operator=(const MailScheduler&) = delete;

  void wake();  // a mail was queued: run the queue now

 private:
  bool stopping();
  void run();
  std::chrono::seconds interval(const char* param, std::chrono::seconds fallback);

  Host& host_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool woken_ = false;
  std::map<std::string, std::chrono::seconds> known_;  // last intervals read (scheduler thread only)
  std::thread thread_;
};

}  // namespace juniper
