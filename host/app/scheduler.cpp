#include "app/scheduler.hpp"

#include "app/alerts.hpp"
#include "core/log.hpp"
#include "mail/fetcher.hpp"
#include "mail/sender.hpp"
#include "records/params.hpp"

#include <sys/resource.h>
#include <unistd.h>

namespace juniper {

MailScheduler::MailScheduler(Host& host) : host_(host), thread_([this] { run(); }) {}

MailScheduler::~MailScheduler() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

bool MailScheduler::stopping() {
  std::lock_guard lock(mu_);
  return stop_;
}

void MailScheduler::wake() {
  {
    std::lock_guard lock(mu_);
    woken_ = true;
  }
  cv_.notify_all();
}

std::chrono::seconds MailScheduler::interval(const char* param, std::chrono::seconds fallback) {
  auto& known = known_[param];
  try {
    auto lock = host_.db().lock();
    auto env = host_.env();
    const auto v = records::param_get(env, param);
    known = v ? std::chrono::seconds(std::max(1, std::stoi(*v))) : fallback;
  } catch (const std::exception&) {
    // The database is away (restarting): keep the last interval read, so the queue resumes as
    // soon as it is back instead of after the default's minute.
    if (known.count() == 0) known = fallback;
  }
  return known;
}

void MailScheduler::run() {
  // Background work yields the processor to pages: this thread, and the send lanes, message
  // builders and IMAP readers it starts (they inherit it), run at nice +10 (Linux sets a
  // thread's own nice value), so a busy queue on a small machine slows sending, not the pages.
  if (::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 10) != 0) {
    log::warning("scheduler", "could not lower the mail thread's priority; pages may slow down while mail is sent");
  }
  auto next_fetch = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (true) {
    try {
      // This thread leases its own database connection and holds no transaction while it talks
      // to a mail server, so pages never wait on it. Rounds of one batch let a stop or a
      // parameter change take effect between batches.
      constexpr std::size_t kRound = 200;
      for (bool more = true; more;) {
        auto lock = host_.db().lock();
        auto env = host_.env();
        mail::SenderOptions o;
        o.limit = kRound;
        o.batch = kRound;
        const auto r = mail::Sender(env, host_.modules().hooks(), host_.data().config()).process(o);
        more = r.sent + r.retried + r.failed >= kRound && !stopping();
      }
      auto lock = host_.db().lock();
      auto env = host_.env();
      if (std::chrono::steady_clock::now() >= next_fetch) {
        mail::fetch_all(env, host_.modules().hooks(), host_.data().config());
        // Before mail stops: what modules warn about goes to the administrators (once a day).
        alerts::mail_due(env, host_.modules().hooks(), std::chrono::system_clock::now());
      }
    } catch (const std::exception& e) {
      log::error("scheduler", e.what());  // the next run tries again
    }
    if (std::chrono::steady_clock::now() >= next_fetch) {
      next_fetch = std::chrono::steady_clock::now() + interval("mail.fetch.interval", std::chrono::seconds(300));
    }
    const auto wait = std::min<std::chrono::steady_clock::duration>(interval("mail.queue.interval", std::chrono::seconds(60)),
                                                                    next_fetch - std::chrono::steady_clock::now());
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, wait, [this] { return stop_ || woken_; });
    if (stop_) return;
    woken_ = false;
  }
}

}  // namespace juniper
