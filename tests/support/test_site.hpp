// `juniper serve` in a test: the web app of a Host on a free port, with a logged-in browser.
#pragma once

#include "web_client.hpp"

#include "http/server.hpp"
#include "records/users.hpp"
#include "web/web_app.hpp"

#include <memory>

namespace juniper::test {

struct TestSite {
  web::WebApp app;
  http::Server server;
  std::unique_ptr<WebClient> browser;  // logged in as admin

  explicit TestSite(Host& host) : app(host), server(options(app)) {
    {
      auto lock = host.db().lock();
      records::set_password(host.db(), "admin", "admin-password");
    }
    server.set_router(app.build_router());
    app.on_routes_changed([this] { server.set_router(app.build_router()); });
    server.start();
    browser = std::make_unique<WebClient>(base_url());
    if (!browser->login("admin", "admin-password")) throw std::runtime_error("cannot log in as admin");
  }
  ~TestSite() { server.stop(); }

  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(server.port()); }

 private:
  // As `juniper serve` sets them (web::serve).
  static http::ServerOptions options(const web::WebApp& app) {
    http::ServerOptions o;
    o.port = 0;
    o.max_body = web::kComposeBodyLimit;
    o.max_inflight_body = web::kInflightBodyLimit;
    o.max_inflight_upload = web::kInflightUploadLimit;
    o.spool_dir = app.spool_dir();
    return o;
  }
};

}  // namespace juniper::test
