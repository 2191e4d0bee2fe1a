#include "http/csrf.hpp"

#include "core/crypto.hpp"

#include <charconv>

namespace juniper::http {

namespace {
constexpr std::string_view kPurpose = "juniper pre-login csrf\x1f";

std::int64_t unix_seconds(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}
}  // namespace

StatelessCsrf::StatelessCsrf(std::string key, std::chrono::seconds lifetime,
                             std::function<std::chrono::system_clock::time_point()> now)
    : key_(std::move(key)), lifetime_(lifetime), now_(std::move(now)) {
  if (key_.empty()) {
    const auto k = crypto::random_bytes(32);
    key_.assign(k.begin(), k.end());
  }
  if (!now_) now_ = [] { return std::chrono::system_clock::now(); };
}

std::string StatelessCsrf::mac(std::string_view cookie_value) const {
  return crypto::to_hex(crypto::hmac_sha256(key_, std::string(kPurpose) + std::string(cookie_value)));
}

// "<32 hex nonce>.<unix expiry>", valid for at least `margin` more.
bool StatelessCsrf::fresh(std::string_view v, std::chrono::seconds margin) const {
  const auto dot = v.find('.');
  if (dot != 32 || v.size() > 64) return false;
  std::int64_t expiry = 0;
  const auto* end = v.data() + v.size();
  const auto [p, ec] = std::from_chars(v.data() + dot + 1, end, expiry);
  if (ec != std::errc{} || p != end) return false;
  return expiry > unix_seconds(now_()) + margin.count();
}

StatelessCsrf::Issued StatelessCsrf::issue(std::optional<std::string_view> cookie_value) const {
  Issued out;
  // Reused while it has half its life left: a form shown now still has time to be sent.
  if (cookie_value && fresh(*cookie_value, lifetime_ / 2)) {
    out.cookie_value = std::string(*cookie_value);
  } else {
    out.cookie_value = crypto::to_hex(crypto::random_bytes(16)) + "." + std::to_string(unix_seconds(now_() + lifetime_));
  }
  out.form_token = mac(out.cookie_value);
  return out;
}

bool StatelessCsrf::verify(std::string_view cookie_value, std::string_view form_token) const {
  if (form_token.empty() || !fresh(cookie_value, std::chrono::seconds(0))) return false;
  return crypto::equal_constant_time(mac(cookie_value), form_token);
}

}  // namespace juniper::http
