// The web side of the host: login, health and the routes modules declare, on top of http/.
#pragma once

#include "app/host.hpp"
#include "http/csrf.hpp"
#include "http/router.hpp"
#include "http/session.hpp"
#include "http/throttle.hpp"
#include "web/follow_ups.hpp"

#include <atomic>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>

namespace juniper::web {

// Request body limits (413 above them, refused before the body is read). The login form
// carries a login, a password, a token and a redirect path: 16 kB is plenty. Every other host
// form (settings, records, parameters) gets 256 kB, module routes 1 MB, and Compose 4 MB for
// a long mail text; all of these are received in memory.
inline constexpr std::size_t kLoginBodyLimit = 16 * 1024;
inline constexpr std::size_t kFormBodyLimit = 256 * 1024;
inline constexpr std::size_t kModuleBodyLimit = 1024 * 1024;
inline constexpr std::size_t kComposeBodyLimit = 4 * 1024 * 1024;
// Every body being received in memory at once, all routes together (503 beyond).
inline constexpr std::size_t kInflightBodyLimit = 32 * 1024 * 1024;
// Compose with attachments, from a logged-in administrator: received into an unlinked file in
// spool_dir, never memory. Up to a little over Exchange Online's largest message (150 MB);
// mail.max_size (25 MB by default) then decides what is queued. All uploads at once: 1 GiB of
// disk (503 beyond).
inline constexpr std::size_t kComposeUploadLimit = 160 * 1024 * 1024;
inline constexpr std::size_t kInflightUploadLimit = std::size_t{1} << 30;
// /web/health reports the disk as full below this much free space in the data folder.
inline constexpr std::uint64_t kMinFreeDisk = 16 * 1024 * 1024;

struct WebOptions {
  http::SessionOptions sessions;
  // Failed logins per client address, and per login name (any address).
  http::ThrottleOptions address_throttle;
  http::ThrottleOptions login_throttle = [] {
    http::ThrottleOptions o;
    o.free_failures = 10;
    o.max_delay = std::chrono::seconds(60);  // an attacker can delay the real admin, not lock them out for long
    return o;
  }();
  // nullopt when the data folder can take writes, else why not. Default: statvfs of the data
  // folder against kMinFreeDisk.
  std::function<std::optional<std::string>()> disk_check;
};

class WebApp {
 public:
  explicit WebApp(Host& host, WebOptions opts = {});

  // A fresh route table for the modules started now (rebuilt after install/uninstall).
  std::shared_ptr<const http::Router> build_router();
  http::SessionStore& sessions() noexcept { return sessions_; }
  Host& host() noexcept { return host_; }
  // Where uploads are received and their files kept while a form is handled (juniper.conf's
  // spool_dir, the data folder by default).
  const std::filesystem::path& spool_dir() const noexcept { return spool_dir_; }

  // The logged-in administrator's session, or the response to send instead (login page or 403).
  std::variant<http::Session, http::Response> require_admin(const http::Request& req);
  // Called after modules were installed or uninstalled from the web pages (routes change).
  void on_routes_changed(std::function<void()> fn) { routes_changed_ = std::move(fn); }
  void routes_changed() {
    if (routes_changed_) routes_changed_();
  }
  // Wakes the queue runner (a mail was composed).
  void on_mail_queued(std::function<void()> fn) { mail_queued_ = std::move(fn); }
  void mail_queued() {
    if (mail_queued_) mail_queued_();
  }
  // Whether a request's body may be an upload (see kComposeUploadLimit): an administrator's
  // multipart form; seen with the head only.
  bool admits_upload(const http::Request& head);
  // Cookies get Secure when web.base.url is https; read again by every response that sets one.
  void refresh_secure_cookie();
  // Actions whose outcome comes later (sign-in with a code), followed up in the background.
  FollowUps& follow_ups() noexcept { return follow_ups_; }

 private:
  http::Response health(const http::Request& req);
  http::Response login_form(const http::Request& req);
  http::Response login_submit(const http::Request& req);
  std::string client_address(const http::Request& req);  // the browser's, through trusted proxies
  http::Response logout(const http::Request& req);
  http::Response module_route(const modules::RouteDef& route, const http::Request& req);

  // The request's stored session, if any: nothing is stored for anonymous visitors.
  std::optional<http::Session> current_session(const http::Request& req);
  // The login page with a pre-login CSRF token (its cookie added to `res` when new).
  http::Response login_page_response(const http::Request& req, int status, const std::string& redirect, std::string_view error);
  http::Response too_many_attempts(const http::Request& req, const std::string& redirect, std::chrono::seconds wait);

  Host& host_;
  http::SessionStore sessions_;
  http::StatelessCsrf login_csrf_;
  http::Throttle by_address_;
  http::Throttle by_login_;
  std::function<std::optional<std::string>()> disk_check_;
  std::filesystem::path spool_dir_;
  std::atomic<bool> base_url_unreadable_{false};
  std::function<void()> routes_changed_;
  std::function<void()> mail_queued_;
  FollowUps follow_ups_{host_};  // last: its threads stop before anything they use goes
};

// `juniper serve`: runs until SIGINT or SIGTERM.
void serve(Host& host, const std::string& listen);

}  // namespace juniper::web
