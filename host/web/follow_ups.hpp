// The follow-ups of actions started from the web pages (SDK 1.5 "continue"): each runs on its
// own thread of this process until its outcome is known; the record page shows the first
// answer (refreshing itself) while it runs, then the outcome once.
#pragma once

#include "app/follow_up.hpp"

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

namespace juniper::web {

class FollowUps {
 public:
  // At most `capacity` at once (a follow-up lasts up to an hour; each holds one thread).
  explicit FollowUps(Host& host, std::size_t capacity = 16, app::Pause pause = app::real_pause);
  ~FollowUps();  // stops and joins every follow-up still running
  FollowUps(const FollowUps&) = delete;
  FollowUps& operator=(const FollowUps&) = delete;

  // Follows up on the record, replacing one under way there. False when `capacity` run already.
  bool start(const records::User& user, const std::string& model, std::int64_t id, app::FollowUp f, nlohmann::json first);

  struct View {
    bool pending = false;
    nlohmann::json answer;  // pending: the first answer (what to do); else the outcome
  };
  // What the record page shows now; an outcome is handed out once, then forgotten.
  std::optional<View> take(const std::string& model, std::int64_t id);
  std::size_t running();

 private:
  struct Entry {
    nlohmann::json first;
    std::optional<nlohmann::json> outcome;
    std::jthread worker;
  };
  using Key = std::pair<std::string, std::int64_t>;

  Host& host_;
  std::size_t capacity_;
  app::Pause pause_;
  std::mutex mutex_;
  std::map<Key, std::shared_ptr<Entry>> entries_;
};

}  // namespace juniper::web
