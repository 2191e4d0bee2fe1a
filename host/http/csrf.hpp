// CSRF protection for a form shown before anyone logged in (the login form), without storing
// anything on the server: a signed double-submit token. The browser gets a short-lived cookie
// holding a random nonce and its expiry; the form carries HMAC-SHA256(key, cookie value). A
// cross-site page can neither read the cookie nor compute the HMAC, so it cannot post a
// matching pair. The key is the server's (random per process unless given).
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace juniper::http {

class StatelessCsrf {
 public:
  struct Issued {
    std::string cookie_value;  // goes into the cookie
    std::string form_token;    // goes into the form
  };

  explicit StatelessCsrf(std::string key = {}, std::chrono::seconds lifetime = std::chrono::hours(1),
                         std::function<std::chrono::system_clock::time_point()> now = {});

  // Reuses `cookie_value` while it has half its lifetime left (several tabs keep working),
  // else a new one.
  Issued issue(std::optional<std::string_view> cookie_value = std::nullopt) const;
  // True when the cookie is well formed, unexpired and the token is its HMAC.
  bool verify(std::string_view cookie_value, std::string_view form_token) const;
  std::chrono::seconds lifetime() const noexcept { return lifetime_; }

 private:
  std::string mac(std::string_view cookie_value) const;
  bool fresh(std::string_view cookie_value, std::chrono::seconds margin) const;

  std::string key_;
  std::chrono::seconds lifetime_;
  std::function<std::chrono::system_clock::time_point()> now_;
};

}  // namespace juniper::http
