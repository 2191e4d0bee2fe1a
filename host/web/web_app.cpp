#include "web/web_app.hpp"

#include "app/alerts.hpp"
#include "app/scheduler.hpp"
#include "core/errors.hpp"
#include "core/log.hpp"
#include "http/server.hpp"
#include "modules/bridge.hpp"
#include "records/params.hpp"
#include "records/users.hpp"
#include "web/admin_pages.hpp"
#include "web/form.hpp"
#include "web/origin.hpp"
#include "web/pages.hpp"

#include <sys/statvfs.h>

#include <algorithm>
#include <csignal>

namespace juniper::web {
namespace {

constexpr const char* kLoginCsrfCookie = "login_csrf";

http::Response forbidden(std::string_view why) { return http::Response::html(403, message_page("Access denied", why, "/web")); }

std::optional<std::string> statvfs_check(const std::filesystem::path& dir) {
  struct statvfs st {};
  if (::statvfs(dir.c_str(), &st) != 0) return "cannot read the free space of " + dir.string();
  const std::uint64_t free_bytes = static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
  if (free_bytes >= kMinFreeDisk) return std::nullopt;
  return "disk full: " + std::to_string(free_bytes / 1024) + " kB free in " + dir.string();
}

http::CookieOptions login_cookie_options(bool secure, std::chrono::seconds max_age) {
  http::CookieOptions o;
  o.path = "/web/login";
  o.secure = secure;
  o.same_site = "Strict";  // only our own form posts it
  o.max_age = max_age;
  return o;
}

}  // namespace

WebApp::WebApp(Host& host, WebOptions opts)
    : host_(host),
      sessions_(std::move(opts.sessions)),
      by_address_(std::move(opts.address_throttle)),
      by_login_(std::move(opts.login_throttle)),
      disk_check_(std::move(opts.disk_check)),
      spool_dir_(host_.data().config().at("spool_dir")) {
  if (!disk_check_) disk_check_ = [dir = host_.data().root()] { return statvfs_check(dir); };
}

bool WebApp::admits_upload(const http::Request& head) {
  if (!is_multipart_form(head)) return false;
  const auto s = current_session(head);
  return s && s->user_id != 0 && s->is_admin;
}

void WebApp::refresh_secure_cookie() {
  try {
    auto lock = host_.db().lock();
    auto env = host_.env();
    const std::string base = records::param_get(env, "web.base.url").value_or("");
    sessions_.set_secure_cookie(base.size() >= 8 && http::iequals(std::string_view(base).substr(0, 8), "https://"));
    base_url_unreadable_ = false;
  } catch (const std::exception& e) {
    // Once per outage, not once per request: a flood of login pages must not flood the log.
    if (!base_url_unreadable_.exchange(true)) {
      log::warning("web", std::string("cannot read web.base.url, cookie flags unchanged: ") + e.what());
    }
  }
}

std::optional<http::Session> WebApp::current_session(const http::Request& req) {
  if (const auto id = req.cookie(sessions_.cookie_name())) return sessions_.find(*id);
  return std::nullopt;
}

std::variant<http::Session, http::Response> WebApp::require_admin(const http::Request& req) {
  const auto s = current_session(req);
  if (!s || s->user_id == 0) return http::Response::redirect("/web/login?redirect=" + http::url_encode(req.target));
  if (!s->is_admin) return forbidden("This page is reserved to administrators.");
  return *s;
}

http::Response WebApp::health(const http::Request&) {
  nlohmann::json modules = nlohmann::json::array();
  nlohmann::json warnings = nlohmann::json::array();  // act soon, mail still flows: status stays "ok"
  bool db_ok = true;
  std::string why;
  try {
    auto lock = host_.db().lock();
    // A read of a real table (a damaged one fails here), not of the modules folder: a probe
    // polled every few seconds must stay cheap.
    for (const auto& name : host_.modules().installed_names()) modules.push_back(name);
    try {  // a module's trouble answering is not the database's
      auto env = host_.env();
      for (const auto& w : alerts::collect(env, host_.modules().hooks(), std::chrono::system_clock::now())) {
        warnings.push_back({{"key", w.key}, {"text", w.text}});
      }
    } catch (const std::exception& e) {
      log::warning("health", std::string("warnings unavailable: ") + e.what());
    }
  } catch (const std::exception& e) {
    db_ok = false;
    why = "database: " + std::string(e.what()).substr(0, 200);
  }
  std::optional<std::string> disk;
  try {
    disk = disk_check_();
  } catch (const std::exception& e) {
    disk = std::string("disk check failed: ") + e.what();
  }
  const bool ok = db_ok && !disk;
  if (disk) why += (why.empty() ? "" : "; ") + *disk;
  nlohmann::json j = {{"status", ok ? "ok" : "degraded"},
                      {"database", host_.db().is_postgres() ? "postgresql" : "sqlite"},
                      {"database_ok", db_ok},
                      {"disk_ok", !disk},
                      {"modules", modules},
                      {"warnings", warnings},
                      {"sessions", sessions_.size()}};
  if (!ok) j["reason"] = why;
  return http::Response::json(ok ? 200 : 503, j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

http::Response WebApp::login_page_response(const http::Request& req, int status, const std::string& redirect,
                                           std::string_view error) {
  const auto cookie = req.cookie(kLoginCsrfCookie);
  const auto issued = login_csrf_.issue(cookie ? std::optional<std::string_view>(*cookie) : std::nullopt);
  http::Response res = http::Response::html(status, login_page(issued.form_token, redirect, error));
  if (!cookie || *cookie != issued.cookie_value) {
    res.set_cookie(kLoginCsrfCookie, issued.cookie_value,
                   login_cookie_options(sessions_.secure_cookie(), login_csrf_.lifetime()));
  }
  return res;
}

http::Response WebApp::login_form(const http::Request& req) {
  refresh_secure_cookie();
  return login_page_response(req, 200, safe_redirect(req.query_param("redirect")), "");
}

http::Response WebApp::too_many_attempts(const http::Request& req, const std::string& redirect, std::chrono::seconds wait) {
  http::Response res = login_page_response(req, 429, redirect,
                                           "Too many failed logins. Try again in " + std::to_string(wait.count()) + " seconds.");
  res.set_header("Retry-After", std::to_string(wait.count()));
  return res;
}

std::string WebApp::client_address(const http::Request& req) {
  try {
    auto lock = host_.db().lock();
    auto env = host_.env();
    return seen(req, parse_proxies(records::param_get(env, "web.trusted_proxies").value_or(""))).client;
  } catch (const std::exception&) {
    return req.remote;  // the database is down: the login fails anyway, throttled by connection
  }
}

http::Response WebApp::login_submit(const http::Request& req) {
  refresh_secure_cookie();
  const std::string redirect = safe_redirect(req.form_param("redirect"));
  const std::string login = req.form_param("login").value_or("");
  if (!login_csrf_.verify(req.cookie(kLoginCsrfCookie).value_or(""), req.form_param("csrf_token").value_or(""))) {
    return login_page_response(req, 403, redirect, "Your session expired or the form was tampered with. Please log in again.");
  }
  // Behind a trusted reverse proxy, the browser's address (else every client would share the
  // proxy's, and one attacker would lock everyone out).
  const std::string client = client_address(req);
  // Refused while waiting: no password is even checked, so guessing gets no faster.
  const auto wait = std::max(by_address_.wait(client), by_login_.wait(login));
  if (wait.count() > 0) return too_many_attempts(req, redirect, wait);  // not logged: no log flood
  // Counted before checking, so attempts in parallel all count; forgiven on success.
  const auto address_wait = by_address_.failure(client);
  const auto login_wait = by_login_.failure(login);
  std::optional<records::StoredLogin> stored;
  {
    auto lock = host_.db().lock();
    stored = records::find_login(host_.db(), login);
  }
  const auto user = records::check_password(stored, req.form_param("password").value_or(""));  // scrypt, unlocked
  if (!user) {
    log::warning("web", "failed login for '" + loggable(login) + "' from " + client);
    if (address_wait.count() > 0) {
      log::warning("web",
                   "logins from " + client + " refused for " + std::to_string(address_wait.count()) + " s (too many failures)");
    }
    if (login_wait.count() > 0) {
      log::warning("web", "logins as '" + loggable(login) + "' refused for " + std::to_string(login_wait.count()) +
                              " s (too many failures)");
    }
    return login_page_response(req, 401, redirect, "Wrong login/password");
  }
  by_address_.success(client);
  by_login_.success(login);
  // A new id at login, the old session (if any) dropped: no session fixation.
  http::Session fresh = sessions_.rotate(req.cookie(sessions_.cookie_name()).value_or(""));
  fresh.user_id = user->id;
  fresh.login = user->login;
  fresh.is_admin = user->is_admin;
  sessions_.update(fresh);
  http::Response ok = http::Response::redirect(redirect);
  ok.set_cookie(sessions_.session_cookie(fresh.id));
  ok.set_cookie(kLoginCsrfCookie, "", login_cookie_options(sessions_.secure_cookie(), std::chrono::seconds(0)));
  return ok;
}

http::Response WebApp::logout(const http::Request& req) {
  // A POST with the session's token: a cross-site link or image cannot log the admin out.
  const auto s = current_session(req);
  if (!s || !http::SessionStore::check_csrf(*s, req.form_param("csrf_token").value_or(""))) {
    return forbidden("The form's security token is missing or wrong. Reload the page and try again.");
  }
  refresh_secure_cookie();
  sessions_.erase(s->id);
  http::Response res = http::Response::redirect("/web/login");
  res.set_cookie(sessions_.clear_cookie());
  return res;
}

http::Response WebApp::module_route(const modules::RouteDef& route, const http::Request& req) {
  const http::Session s = current_session(req).value_or(http::Session{});
  if (route.auth != JUNIPER_AUTH_NONE && s.user_id == 0) {
    return http::Response::redirect("/web/login?redirect=" + http::url_encode(req.target));
  }
  if (route.auth == JUNIPER_AUTH_ADMIN && !s.is_admin) return forbidden("This page is reserved to administrators.");
  if (route.csrf && req.method == "POST" && !http::SessionStore::check_csrf(s, req.form_param("csrf_token").value_or(""))) {
    return forbidden("The form's security token is missing or wrong. Reload the page and try again.");
  }
  juniper_http_request creq;
  creq.get = [&req](int32_t what, std::string_view name) -> std::optional<std::string> {
    switch (what) {
      case JUNIPER_REQUEST_METHOD:
        return req.method;
      case JUNIPER_REQUEST_PATH:
        return req.path;
      case JUNIPER_REQUEST_QUERY:
        return req.query_param(name);
      case JUNIPER_REQUEST_FORM:
        return req.form_param(name);
      case JUNIPER_REQUEST_HEADER:
        return req.header(name);
      case JUNIPER_REQUEST_BODY:
        return req.body;
      case JUNIPER_REQUEST_FULL_URL:
        return req.target;
      default:
        return std::nullopt;
    }
  };
  juniper_http_response cres;
  auto lock = host_.db().lock();
  auto env = host_.env(records::User{s.user_id, s.login, s.is_admin});
  // A route that waits on the network commits each write at once: a transaction held across
  // its peer would keep every other writer (the mail queue, other pages) waiting with it.
  std::optional<Transaction> tr;
  if (!route.network) tr.emplace(host_.db().session());
  juniper_ctx ctx{&env, route.module};
  modules::ErrorBox box;
  const juniper_status st = route.handler(route.user, &ctx, &creq, &cres, &box.err);
  if (st != JUNIPER_OK) {
    log::error(route.module, "route " + route.path + " failed: " + box.message);
    return http::Response::html(500, message_page("Something went wrong",
                                                  "The request could not be completed; "
                                                  "the server log has the details.",
                                                  "/web"));
  }
  if (tr) tr->commit();
  http::Response res;
  res.status = cres.status;
  res.body = std::move(cres.body);
  for (auto& [k, v] : cres.headers) res.add_header(k, v);
  if (!cres.page_json.empty()) {
    res.body = module_page(route.module, cres.page_json);
    res.set_header("Content-Type", "text/html; charset=utf-8");
  }
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
    r->set_body_limit(route.method, route.path, kModuleBodyLimit);
  }
  r->set_default_body_limit(kFormBodyLimit);
  r->set_body_limit("POST", "/web/login", kLoginBodyLimit);
  r->set_body_limit("POST", "/web/compose", kComposeBodyLimit);
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
  o.max_body = kComposeBodyLimit;  // the largest route limit
  o.max_inflight_body = kInflightBodyLimit;
  o.max_inflight_upload = kInflightUploadLimit;
  // Block the signals before any thread starts so only sigwait below sees them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  WebApp app(host);
  app.refresh_secure_cookie();
  o.spool_dir = app.spool_dir();
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
