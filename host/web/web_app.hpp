// The web side of the host: login, health and the routes modules declare, on top of http/.
#pragma once

#include "app/host.hpp"
#include "http/router.hpp"
#include "http/session.hpp"

#include <functional>
#include <memory>
#include <variant>

namespace juniper::web {

class WebApp {
 public:
  explicit WebApp(Host& host);

  // A fresh route table for the modules started now (rebuilt after install/uninstall).
  std::shared_ptr<const http::Router> build_router();
  http::SessionStore& sessions() noexcept { return sessions_; }
  Host& host() noexcept { return host_; }

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

 private:
  http::Response health(const http::Request& req);
  http::Response login_form(const http::Request& req);
  http::Response login_submit(const http::Request& req);
  http::Response logout(const http::Request& req);
  http::Response module_route(const modules::RouteDef& route, const http::Request& req);

  // The request's session, or a new anonymous one (with its cookie added to `res`).
  http::Session session_for(const http::Request& req, http::Response* res);

  Host& host_;
  http::SessionStore sessions_;
  std::function<void()> routes_changed_;
  std::function<void()> mail_queued_;
};

// `juniper serve`: runs until SIGINT or SIGTERM.
void serve(Host& host, const std::string& listen);

}  // namespace juniper::web
