#include "web/web_app.hpp"

#include "app/scheduler.hpp"
#include "core/errors.hpp"
#include "core/log.hpp"
#include "http/html.hpp"
#include "http/server.hpp"
#include "modules/bridge.hpp"
#include "records/users.hpp"
#include "web/admin_pages.hpp"
#include "web/pages.hpp"

#include <csignal>

namespace juniper::web {
namespace {

// Only local paths: an open redirect after login would hand the session to another site.
std::string safe_redirect(std::optional<std::string> target) {
  if (!target || target->empty() || (*target)[0] != '/' || target->starts_with("//") ||
      target->find('\\') != std::string::npos) {
    return "/web";
  }
  return *target;
}

http::Response forbidden(std::string_view why) {
  return http::Response::html(403, message_page("Access denied", why, "/web"));
}

}  // namespace

WebApp::WebApp(Host& host) : host_(host) {}

http::Session WebApp::session_for(const http::Request& req, http::Response* res) {
  if (const auto id = req.cookie(sessions_.cookie_name())) {
    if (auto s = sessions_.find(*id)) return *s;
  }
  http::Session s = sessions_.create();
  if (res != nullptr) res->set_cookie(sessions_.session_cookie(s.id));
  return s;
}

std::variant<http::Session, http::Response> WebApp::require_admin(const http::Request& req) {
  const http::Session s = session_for(req, nullptr);
  if (s.user_id == 0) return http::Response::redirect("/web/login?redirect=" + http::url_encode(req.target));
  if (!s.is_admin) return forbidden("This page is reserved to administrators.");
  return s;
}

http::Response WebApp::health(const http::Request&) {
  auto lock = host_.db().lock();
  nlohmann::json modules = nlohmann::json::array();
  for (const auto& s : host_.modules().list()) {
    if (s.state == "installed") modules.push_back(s.manifest.name);
  }
  bool db_ok = true;
  try {
    int one = 0;
    host_.db().session() << "SELECT 1", soci::into(one);
  } catch (const std::exception&) {
    db_ok = false;
  }
  const nlohmann::json j = {{"status", db_ok ? "ok" : "degraded"},
                            {"database", host_.db().is_postgres() ? "postgresql" : "sqlite"},
                            {"database_ok", db_ok},
                            {"modules", modules}};
  return http::Response::json(db_ok ? 200 : 503, j.dump());
}

http::Response WebApp::login_form(const http::Request& req) {
  http::Response res;
  const http::Session s = session_for(req, &res);
  res.status = 200;
  res.set_header("Content-Type", "text/html; charset=utf-8");
  res.body = login_page(s.csrf_token, safe_redirect(req.query_param("redirect")), "");
  return res;
}

http::Response WebApp::login_submit(const http::Request& req) {
  http::Response res;
  const http::Session s = session_for(req, &res);
  const std::string redirect = safe_redirect(req.form_param("redirect"));
  auto refuse = [&](int status, std::string_view why) {
    res.status = status;
    res.set_header("Content-Type", "text/html; charset=utf-8");
    res.body = login_page(s.csrf_token, redirect, why);
    return res;
  };
  if (!http::SessionStore::check_csrf(s, req.form_param("csrf_token").value_or(""))) {
    return refuse(403, "Your session expired or the form was tampered with. Please log in again.");
  }
  std::optional<records::User> user;
  {
    auto lock = host_.db().lock();
    user = records::authenticate(host_.db(), req.form_param("login").value_or(""), req.form_param("password").value_or(""));
  }
  if (!user) {
    log::warning("web", "failed login for '" + req.form_param("login").value_or("") + "' from " + req.remote);
    return refuse(401, "Wrong login/password");
  }
  http::Session fresh = sessions_.rotate(s.id);  // a new id at login: no session fixation
  fresh.user_id = user->id;
  fresh.login = user->login;
  fresh.is_admin = user->is_admin;
  sessions_.update(fresh);
  http::Response ok = http::Response::redirect(redirect);
  ok.set_cookie(sessions_.session_cookie(fresh.id));
  return ok;
}

http::Response WebApp::logout(const http::Request& req) {
  // A POST with the session's token: a cross-site link or image cannot log the admin out.
  const http::Session s = session_for(req, nullptr);
  if (!http::SessionStore::check_csrf(s, req.form_param("csrf_token").value_or(""))) {
    return forbidden("The form's security token is missing or wrong. Reload the page and try again.");
  }
  if (const auto id = req.cookie(sessions_.cookie_name())) sessions_.erase(*id);
  http::Response res = http::Response::redirect("/web/login");
  res.set_cookie(sessions_.clear_cookie());
  return res;
}

http::Response WebApp::module_route(const modules::RouteDef& route, const http::Request& req) {
  const http::Session s = session_for(req, nullptr);
  if (route.auth != JUNIPER_AUTH_NONE && s.user_id == 0) {
    return http::Response::redirect("/web/login?redirect=" + http::url_encode(req.target));
  }
  if (route.auth == JUNIPER_AUTH_ADMIN && !s.is_admin) return forbidden("This page is reserved to administrators.");
  if (route.csrf && req.method == "POST" &&
      !http::SessionStore::check_csrf(s, req.form_param("csrf_token").value_or(""))) {
    return forbidden("The form's security token is missing or wrong. Reload the page and try again.");
  }
  juniper_http_request creq;
  creq.get = [&req](int32_t what, std::string_view name) -> std::optional<std::string> {
    switch (what) {
      case JUNIPER_REQUEST_METHOD: return req.method;
      case JUNIPER_REQUEST_PATH: return req.path;
      case JUNIPER_REQUEST_QUERY: return req.query_param(name);
      case JUNIPER_REQUEST_FORM: return req.form_param(name);
      case JUNIPER_REQUEST_HEADER: return req.header(name);
      case JUNIPER_REQUEST_BODY: return req.body;
      case JUNIPER_REQUEST_FULL_URL: return req.target;
      default: return std::nullopt;
    }
  };
  juniper_http_response cres;
  auto lock = host_.db().lock();
  auto env = host_.env(records::User{s.user_id, s.login, s.is_admin});
  Transaction tr(host_.db().session());
  juniper_ctx ctx{&env, route.module};
  modules::ErrorBox box;
  const juniper_status st = route.handler(route.user, &ctx, &creq, &cres, &box.err);
  if (st != JUNIPER_OK) {
    log::error(route.module, "route " + route.path + " failed: " + box.message);
    return http::Response::html(500, message_page("Something went wrong", "The request could not be completed; "
                                                  "the server log has the details.", "/web"));
  }
  tr.commit();
  http::Response res;
  res.status = cres.status;
  res.body = std::move(cres.body);
  for (auto& [k, v] : cres.headers) res.add_header(k, v);
  return res;
}

std::shared_ptr<const http::Router> WebApp::build_router() {
  auto r = std::make_shared<http::Router>();
  r->add("GET", "/web/health", [this](const http::Request& q) { return health(q); });
  r->add("GET", "/web/login", [this](const http::Request& q) { return login_form(q); });
  r->add("POST", "/web/login", [this](const http::Request& q) { return login_submit(q); });
  r->add("POST", "/web/logout", [this](const http::Request& q) { return logout(q); });
  add_admin_pages(*r, *this);
  r->add("GET", "/", [](const http::Request&) { return http::Response::redirect("/web"); });
  std::vector<modules::RouteDef> routes;
  {
    auto lock = host_.db().lock();
    routes = host_.modules().routes();
  }
  for (const auto& route : routes) {
    r->add(route.method, route.path, [this, route](const http::Request& q) { return module_route(route, q); });
  }
  return r;
}

void serve(Host& host, const std::string& listen) {
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos) throw UsageError("--listen expects HOST:PORT, e.g. 127.0.0.1:8069");
  http::ServerOptions o;
  o.host = listen.substr(0, colon);
  try {
    o.port = static_cast<unsigned short>(std::stoul(listen.substr(colon + 1)));
  } catch (const std::exception&) {
    throw UsageError("--listen expects HOST:PORT, e.g. 127.0.0.1:8069");
  }
  o.log = [](std::string_view m) { log::error("http", m); };
  // Block the signals before any thread starts so only sigwait below sees them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  WebApp app(host);
  http::Server server(o);
  server.set_router(app.build_router());
  app.on_routes_changed([&] { server.set_router(app.build_router()); });
  MailScheduler scheduler(host);
  app.on_mail_queued([&] { scheduler.wake(); });
  try {
    server.start();
  } catch (const std::runtime_error& e) {
    throw UserError(e.what());
  }
  log::info("http", "serving on http://" + o.host + ":" + std::to_string(server.port()));
  std::printf("juniper serving on http://%s:%u\n", o.host.c_str(), server.port());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&set, &sig);
  log::info("http", "stopping (signal " + std::to_string(sig) + ")");
  server.stop();
}

}  // namespace juniper::web
