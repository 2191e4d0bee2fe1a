// In-memory, thread-safe login sessions with per-session CSRF tokens.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace juniper::http {

// `bytes` bytes from OpenSSL RAND_bytes, hex encoded. Throws std::runtime_error
// if the CSPRNG fails.
std::string random_token(std::size_t bytes = 32);

struct Session {
  std::string id;
  std::string csrf_token;
  std::int64_t user_id = 0;  // 0 = anonymous
  std::string login;
  bool is_admin = false;
  std::chrono::steady_clock::time_point last_seen;
  std::map<std::string, std::string> data;
};

struct SessionOptions {
  std::chrono::seconds idle_timeout = std::chrono::hours(12);
  bool secure_cookie = false;  // set when the public base URL is https (see set_secure_cookie)
  // At most this many sessions: creating one more drops expired ones, then the one idle
  // the longest (memory stays bounded whatever a client does).
  std::size_t max_sessions = 10000;
  std::string cookie_name = "session_id";
  // Injectable clock so expiry can be tested without sleeping.
  std::function<std::chrono::steady_clock::time_point()> now;
};

class SessionStore {
 public:
  explicit SessionStore(SessionOptions opts = {});

  // New anonymous session with fresh random id and CSRF token.
  Session create();
  // The session if it exists and has not been idle for longer than idle_timeout;
  // refreshes last_seen. Expired sessions are erased.
  std::optional<Session> find(std::string_view id);
  // Drops `old_id` (if any) and returns a brand-new session: call at login so a
  // session id planted before authentication is worthless (session fixation).
  Session rotate(std::string_view old_id);
  void erase(std::string_view id);
  // Stores the session's fields under session.id. Returns false (and stores
  // nothing) if that session no longer exists, so a logout is never undone.
  bool update(const Session& session);
  // Erases every expired session; returns how many.
  std::size_t purge_expired();
  std::size_t size() const;

  // Constant-time comparison against the session's token; false for empty tokens.
  static bool check_csrf(const Session& session, std::string_view token);

  // Set-Cookie values: "session_id=<id>; Path=/; HttpOnly; SameSite=Lax" (+ Secure),
  // and one that makes the browser drop the cookie.
  std::string session_cookie(std::string_view id) const;
  std::string clear_cookie() const;
  const std::string& cookie_name() const noexcept { return opts_.cookie_name; }
  // Whether cookies carry Secure; may change while serving (web.base.url changed).
  void set_secure_cookie(bool on) noexcept { secure_.store(on); }
  bool secure_cookie() const noexcept { return secure_.load(); }

 private:
  std::chrono::steady_clock::time_point now() const;
  bool expired(const Session& s, std::chrono::steady_clock::time_point now) const;
  Session create_locked(std::chrono::steady_clock::time_point now);
  void make_room_locked(std::chrono::steady_clock::time_point now);

  SessionOptions opts_;
  std::atomic<bool> secure_{false};
  mutable std::mutex mu_;
  std::unordered_map<std::string, Session> sessions_;
  std::chrono::steady_clock::time_point last_purge_;
};

}  // namespace juniper::http
