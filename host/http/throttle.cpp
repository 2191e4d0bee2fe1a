#include "http/throttle.hpp"

#include <algorithm>

namespace juniper::http {

using Clock = std::chrono::steady_clock;

Throttle::Throttle(ThrottleOptions opts) : opts_(std::move(opts)) {
  if (!opts_.now) opts_.now = [] { return Clock::now(); };
  if (opts_.max_entries == 0) opts_.max_entries = 1;
}

std::string Throttle::key_of(std::string_view key) const { return std::string(key.substr(0, opts_.max_key)); }

std::chrono::seconds Throttle::wait(std::string_view key) {
  const auto now = opts_.now();
  std::lock_guard lock(mu_);
  const auto it = entries_.find(key_of(key));
  if (it == entries_.end() || it->second.locked_until <= now) return std::chrono::seconds(0);
  const auto left = it->second.locked_until - now;
  return std::chrono::ceil<std::chrono::seconds>(left);
}

std::chrono::seconds Throttle::failure(std::string_view key) {
  const auto now = opts_.now();
  std::lock_guard lock(mu_);
  std::string k = key_of(key);
  if (!entries_.contains(k)) make_room(now);
  Entry& e = entries_[std::move(k)];
  if (e.failures > 0 && now - e.last > opts_.forget_after) e = Entry{};
  ++e.failures;
  e.last = now;
  if (e.failures <= opts_.free_failures) return std::chrono::seconds(0);
  // 1, 2, 4 ... times first_delay, capped (the shift is capped too, to stay defined).
  const unsigned doublings = std::min(e.failures - opts_.free_failures - 1, 20U);
  const auto delay = std::min<std::chrono::seconds>(opts_.first_delay * (1LL << doublings), opts_.max_delay);
  e.locked_until = now + delay;
  return delay;
}

void Throttle::success(std::string_view key) {
  std::lock_guard lock(mu_);
  entries_.erase(key_of(key));
}

std::size_t Throttle::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

void Throttle::make_room(Clock::time_point now) {
  if (entries_.size() < opts_.max_entries) return;
  std::erase_if(entries_,
                [&](const auto& kv) { return now - kv.second.last > opts_.forget_after && kv.second.locked_until <= now; });
  if (entries_.size() < opts_.max_entries) return;
  // Still full: drop the stalest entry that is not holding anyone back, else the stalest.
  auto stalest = [&](bool unlocked_only) {
    auto best = entries_.end();
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (unlocked_only && it->second.locked_until > now) continue;
      if (best == entries_.end() || it->second.last < best->second.last) best = it;
    }
    return best;
  };
  auto victim = stalest(true);
  if (victim == entries_.end()) victim = stalest(false);
  entries_.erase(victim);
}

}  // namespace juniper::http
