// The web side of the host: login, health and the routes modules declare, on top of http/.
#pragma once

#include "app/host.hpp"
#include "http/router.hpp"
#include "http/session.hpp"

#include <memory>

namespace juniper::web {

class WebApp {
 public:
  explicit WebApp(Host& host);

  // A fresh route table for the modules started now (rebuilt after install/uninstall).
  std::shared_ptr<const http::Router> build_router();
  http::SessionStore& sessions() noexcept { return sessions_; }

 private:
  http::Response health(const http::Request& req);
  http::Response login_form(const http::Request& req);
  http::Response login_submit(const http::Request& req);
  http::Response logout(const http::Request& req);
  http::Response home(const http::Request& req);
  http::Response module_route(const modules::RouteDef& route, const http::Request& req);

  // The request's session, or a new anonymous one (with its cookie added to `res`).
  http::Session session_for(const http::Request& req, http::Response* res);

  Host& host_;
  http::SessionStore sessions_;
};

// `juniper serve`: runs until SIGINT or SIGTERM.
void serve(Host& host, const std::string& listen);

}  // namespace juniper::web
