#include "web/follow_ups.hpp"

#include <vector>

namespace juniper::web {

FollowUps::FollowUps(Host& host, std::size_t capacity, app::Pause pause)
    : host_(host), capacity_(capacity), pause_(std::move(pause)) {}

FollowUps::~FollowUps() {
  std::map<Key, std::shared_ptr<Entry>> all;
  {
    std::lock_guard lock(mutex_);
    all.swap(entries_);
  }
  for (auto& [key, e] : all) e->worker.request_stop();
  // Joined here, outside the lock (a worker takes it to hand in its outcome).
}

bool FollowUps::start(const records::User& user, const std::string& model, std::int64_t id, app::FollowUp f,
                      nlohmann::json first) {
  std::shared_ptr<Entry> replaced;
  std::vector<std::shared_ptr<Entry>> finished;  // outcomes nobody came back for: dropped to make room
  auto e = std::make_shared<Entry>();
  e->first = std::move(first);
  {
    std::lock_guard lock(mutex_);
    const Key key{model, id};
    if (auto it = entries_.find(key); it != entries_.end()) {
      replaced = std::move(it->second);
      entries_.erase(it);
    }
    for (auto it = entries_.begin(); entries_.size() >= capacity_ && it != entries_.end();) {
      if (it->second->outcome) {
        finished.push_back(std::move(it->second));
        it = entries_.erase(it);
      } else {
        ++it;
      }
    }
    if (entries_.size() >= capacity_) return false;
    entries_[key] = e;
    // The worker sees only what it needs; its entry stays alive through the shared pointer.
    e->worker = std::jthread([this, user, model, id, f = std::move(f), entry = e.get()](std::stop_token stop) {
      auto outcome = app::follow(host_, user, model, id, f, stop, pause_);
      std::lock_guard done(mutex_);
      entry->outcome = std::move(outcome);
    });
  }
  if (replaced) replaced->worker.request_stop();
  return true;  // `replaced` and `finished` are joined as they go out of scope, outside the lock
}

std::optional<FollowUps::View> FollowUps::take(const std::string& model, std::int64_t id) {
  std::shared_ptr<Entry> done;
  std::optional<View> view;
  {
    std::lock_guard lock(mutex_);
    const auto it = entries_.find(Key{model, id});
    if (it == entries_.end()) return std::nullopt;
    if (!it->second->outcome) return View{true, it->second->first};
    view = View{false, *it->second->outcome};
    done = std::move(it->second);
    entries_.erase(it);
  }
  return view;
}

std::size_t FollowUps::running() {
  std::lock_guard lock(mutex_);
  std::size_t n = 0;
  for (const auto& [key, e] : entries_) n += e->outcome ? 0 : 1;
  return n;
}

}  // namespace juniper::web
