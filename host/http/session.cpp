#include "http/session.hpp"

#include "core/crypto.hpp"
#include "http/request.hpp"

#include <openssl/crypto.h>

#include <algorithm>
#include <climits>
#include <stdexcept>
#include <vector>

namespace juniper::http {

std::string random_token(std::size_t bytes) {
  if (bytes == 0 || bytes > static_cast<std::size_t>(INT_MAX)) throw std::invalid_argument("random_token: bad length");
  crypto::Bytes raw = crypto::random_bytes(bytes);  // the process's one random source
  std::string out = crypto::to_hex(raw);
  OPENSSL_cleanse(raw.data(), raw.size());
  return out;
}

SessionStore::SessionStore(SessionOptions opts) : opts_(std::move(opts)) {
  if (!opts_.now) opts_.now = [] { return std::chrono::steady_clock::now(); };
  if (opts_.max_sessions == 0) opts_.max_sessions = 1;
  secure_ = opts_.secure_cookie;
  last_purge_ = now();
}

std::chrono::steady_clock::time_point SessionStore::now() const { return opts_.now(); }

bool SessionStore::expired(const Session& s, std::chrono::steady_clock::time_point t) const {
  return t - s.last_seen > opts_.idle_timeout;
}

Session SessionStore::create_locked(std::chrono::steady_clock::time_point t) {
  // Purge now and then so abandoned sessions don't pile up forever.
  if (t - last_purge_ > std::chrono::minutes(1)) {
    std::erase_if(sessions_, [&](const auto& kv) { return expired(kv.second, t); });
    last_purge_ = t;
  }
  make_room_locked(t);
  Session s;
  do {
    s.id = random_token(32);
  } while (sessions_.contains(s.id));
  s.csrf_token = random_token(32);
  s.last_seen = t;
  sessions_.emplace(s.id, s);
  return s;
}

void SessionStore::make_room_locked(std::chrono::steady_clock::time_point t) {
  if (sessions_.size() < opts_.max_sessions) return;
  std::erase_if(sessions_, [&](const auto& kv) { return expired(kv.second, t); });
  last_purge_ = t;
  while (sessions_.size() >= opts_.max_sessions) {
    auto idlest = std::min_element(sessions_.begin(), sessions_.end(),
                                   [](const auto& a, const auto& b) { return a.second.last_seen < b.second.last_seen; });
    sessions_.erase(idlest);
  }
}

Session SessionStore::create() {
  auto t = now();
  std::lock_guard lock(mu_);
  return create_locked(t);
}

std::optional<Session> SessionStore::find(std::string_view id) {
  auto t = now();
  std::lock_guard lock(mu_);
  auto it = sessions_.find(std::string(id));
  if (it == sessions_.end()) return std::nullopt;
  if (expired(it->second, t)) {
    sessions_.erase(it);
    return std::nullopt;
  }
  it->second.last_seen = t;
  return it->second;
}

Session SessionStore::rotate(std::string_view old_id) {
  auto t = now();
  std::lock_guard lock(mu_);
  sessions_.erase(std::string(old_id));
  return create_locked(t);
}

void SessionStore::erase(std::string_view id) {
  std::lock_guard lock(mu_);
  sessions_.erase(std::string(id));
}

bool SessionStore::update(const Session& session) {
  auto t = now();
  std::lock_guard lock(mu_);
  auto it = sessions_.find(session.id);
  if (it == sessions_.end()) return false;
  if (expired(it->second, t)) {
    sessions_.erase(it);
    return false;
  }
  it->second = session;
  it->second.last_seen = t;
  return true;
}

std::size_t SessionStore::purge_expired() {
  auto t = now();
  std::lock_guard lock(mu_);
  last_purge_ = t;
  return std::erase_if(sessions_, [&](const auto& kv) { return expired(kv.second, t); });
}

std::size_t SessionStore::size() const {
  std::lock_guard lock(mu_);
  return sessions_.size();
}

bool SessionStore::check_csrf(const Session& session, std::string_view token) {
  const std::string& expected = session.csrf_token;
  if (expected.empty() || token.size() != expected.size()) return false;
  return CRYPTO_memcmp(expected.data(), token.data(), expected.size()) == 0;
}

std::string SessionStore::session_cookie(std::string_view id) const {
  CookieOptions o;
  o.secure = secure_cookie();
  return make_set_cookie(opts_.cookie_name, id, o);
}

std::string SessionStore::clear_cookie() const {
  CookieOptions o;
  o.secure = secure_cookie();
  o.max_age = std::chrono::seconds(0);
  return make_set_cookie(opts_.cookie_name, "", o);
}

}  // namespace juniper::http
