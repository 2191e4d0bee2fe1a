// The web side under load and abuse: no sessions for anonymous visitors, login body limit,
// throttling, safe redirects, Secure cookies and health answering 503 when it should.
#include "test_host.hpp"

#include "core/crypto.hpp"
#include "http/server.hpp"
#include "records/params.hpp"
#include "records/users.hpp"
#include "web/pages.hpp"
#include "web/web_app.hpp"

#include <curl/curl.h>
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <map>
#include <thread>

using juniper::test::TestHost;
namespace http = juniper::http;
namespace records = juniper::records;
namespace web = juniper::web;

namespace {

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

struct Reply;
std::size_t on_header(char* p, std::size_t s, std::size_t n, void* u);

struct Reply {
  long status = 0;
  std::string body;
  std::multimap<std::string, std::string> headers;  // names lower-cased
  std::string header(const std::string& name) const {
    const auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
  std::string set_cookie(const std::string& name) const {
    for (auto [it, end] = headers.equal_range("set-cookie"); it != end; ++it) {
      if (it->second.starts_with(name + "=")) return it->second;
    }
    return "";
  }
};

std::size_t on_header(char* p, std::size_t s, std::size_t n, void* u) {
  const std::string line(p, s * n);
  const auto colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    std::string value = line.substr(colon + 1);
    for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n')) value.pop_back();
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    static_cast<Reply*>(u)->headers.emplace(name, value);
  }
  return s * n;
}

// A browser that shows what it receives: headers, and a cookie jar kept by hand (curl would
// not send a Secure cookie back over http), from a chosen loopback source address.
class Browser {
 public:
  Browser(std::string base, std::string from = "127.0.0.1") : base_(std::move(base)), from_(std::move(from)) {}

  Reply get(const std::string& path) { return run(path, nullptr); }
  Reply post(const std::string& path, const std::string& form) { return run(path, &form); }
  std::string csrf() { return value_of(get("/web/login").body, "name=\"csrf_token\" value=\""); }
  Reply login(const std::string& login, const std::string& password, const std::string& redirect = "") {
    const std::string token = csrf();
    return post("/web/login", "login=" + http::url_encode(login) + "&password=" + http::url_encode(password) +
                                  "&redirect=" + http::url_encode(redirect) + "&csrf_token=" + token);
  }
  static std::string value_of(const std::string& html, const std::string& marker) {
    const auto p = html.find(marker);
    if (p == std::string::npos) return {};
    return html.substr(p + marker.size(), html.find('"', p + marker.size()) - p - marker.size());
  }
  std::map<std::string, std::string> cookies;

 private:
  Reply run(const std::string& path, const std::string* form) {
    Reply r;
    CURL* c = curl_easy_init();
    const std::string url = base_ + path;
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_INTERFACE, from_.c_str());
    curl_easy_setopt(
        c, CURLOPT_WRITEFUNCTION, +[](char* p, size_t s, size_t n, void* u) {
          static_cast<Reply*>(u)->body.append(p, s * n);
          return s * n;
        });
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, nullptr);
    std::string cookie;
    for (const auto& [k, v] : cookies) cookie += (cookie.empty() ? "" : "; ") + k + "=" + v;
    curl_slist* headers = nullptr;
    if (!cookie.empty()) headers = curl_slist_append(headers, ("Cookie: " + cookie).c_str());
    headers = curl_slist_append(headers, "Expect:");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    if (form != nullptr) {
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, form->c_str());
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(form->size()));
    }
    const CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK) throw std::runtime_error(std::string("request failed: ") + curl_easy_strerror(rc) + " " + url);
    keep_cookies(r);
    return r;
  }
  void keep_cookies(const Reply& r) {
    for (auto [it, end] = r.headers.equal_range("set-cookie"); it != end; ++it) {
      const std::string& v = it->second;
      const auto eq = v.find('=');
      const std::string name = v.substr(0, eq);
      const std::string value = v.substr(eq + 1, v.find(';') - eq - 1);
      if (has(v, "Max-Age=0")) {
        cookies.erase(name);
      } else {
        cookies[name] = value;
      }
    }
  }
  std::string base_;
  std::string from_;
};

// `juniper serve`'s web app with chosen options on a free port.
struct Site : TestHost {
  web::WebApp app;
  http::Server server;
  std::string base;

  explicit Site(web::WebOptions o = {}, unsigned threads = 2) : app(*host, std::move(o)), server(options(threads)) {
    {
      auto lock = host->db().lock();
      records::set_password(host->db(), "admin", "admin-password");
      const std::string hash = juniper::crypto::hash_password("clerk-password");
      host->db().session() << "INSERT INTO res_users (login, password_hash, is_admin) VALUES ('clerk', :h, 0)", soci::use(hash);
    }
    server.set_router(app.build_router());
    server.start();
    base = "http://127.0.0.1:" + std::to_string(server.port());
  }
  ~Site() { server.stop(); }
  void param(const std::string& key, const std::string& value) {
    auto lock = host->db().lock();
    auto env = host->env();
    records::param_set(env, key, value);
  }
  std::string log() {
    std::ifstream in(dir / "juniper.log");
    return {std::istreambuf_iterator<char>(in), {}};
  }

 private:
  static http::ServerOptions options(unsigned threads) {
    http::ServerOptions o;
    o.port = 0;
    o.threads = threads;
    o.max_body = web::kComposeBodyLimit;
    o.max_inflight_body = web::kInflightBodyLimit;
    return o;
  }
};

long rss_kb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("VmRSS:")) return std::stol(line.substr(6));
  }
  return 0;
}

// Sends a request head announcing `length` bytes and a little of the body; returns the reply.
std::string announce_body(unsigned short port, const std::string& path, std::size_t length) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    const std::string head = "POST " + path +
                             " HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                             "Content-Length: " +
                             std::to_string(length) + "\r\n\r\nlogin=" + std::string(4000, 'a');
    (void)::send(fd, head.data(), head.size(), MSG_NOSIGNAL);
    char buf[4096];
    for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

}  // namespace

TEST_CASE("anonymous requests store no session; a login stores one", "[web][load]") {
  Site t;
  Browser anon(t.base);
  const std::vector<std::string> paths = {
      "/web", "/web/login", "/web/login?redirect=%2Fweb%2Fparams", "/web/params", "/web/record/ir.mail_server/1", "/web/health",
      "/",    "/nowhere"};
  for (int i = 0; i < 40; ++i) {
    for (const auto& p : paths) Browser(t.base).get(p);  // cookieless, like a flood
    anon.get("/web/login");                              // with its pre-login cookie
  }
  CHECK(anon.post("/web/logout", "csrf_token=x").status == 403);
  CHECK(anon.post("/web/login", "login=admin&password=x&csrf_token=forged").status == 403);
  CHECK(t.app.sessions().size() == 0);
  CHECK(has(anon.get("/web/health").body, "\"sessions\":0"));
  const auto in = anon.login("admin", "admin-password");
  CHECK(in.status == 303);
  CHECK(has(in.set_cookie("session_id"), "HttpOnly"));
  CHECK(has(in.set_cookie("login_csrf"), "Max-Age=0"));  // the pre-login cookie is dropped
  CHECK(t.app.sessions().size() == 1);
  CHECK(anon.get("/web/params").status == 200);
}

TEST_CASE("an oversized login POST is refused with 413 before it is buffered", "[web][load]") {
  Site t;
  const auto sessions = t.app.sessions().size();
  const long before = rss_kb();
  for (int i = 0; i < 20; ++i) {
    const auto reply = announce_body(t.server.port(), "/web/login", 29 * 1024 * 1024);
    INFO(reply.substr(0, 200));
    CHECK(reply.rfind("HTTP/1.1 413", 0) == 0);
  }
  const long grown = rss_kb() - before;
  INFO("RSS grew by " << grown << " kB");
  CHECK(grown < 8 * 1024);  // 20 x 29 MB announced; nothing like it kept
  CHECK(t.app.sessions().size() == sessions);
  CHECK(t.server.inflight_body_bytes() == 0);
  // Just over the login limit through a real client: 413 too; ordinary forms allow more.
  Browser b(t.base);
  CHECK(b.post("/web/login", "login=" + std::string(web::kLoginBodyLimit, 'a')).status == 413);
  CHECK(b.post("/web/params", "key=" + std::string(web::kLoginBodyLimit * 2, 'a')).status == 303);  // to log in
  CHECK(b.post("/web/params", "key=" + std::string(web::kFormBodyLimit, 'a')).status == 413);
}

TEST_CASE("failed logins are throttled per address and per login, with 429 and Retry-After", "[web][abuse]") {
  web::WebOptions o;
  o.address_throttle.free_failures = 3;
  o.address_throttle.first_delay = std::chrono::hours(1);  // no race with the clock in this test
  o.login_throttle.free_failures = 5;
  o.login_throttle.first_delay = std::chrono::hours(1);
  Site t(o);
  Browser attacker(t.base, "127.0.0.1");
  for (int i = 0; i < 4; ++i) CHECK(attacker.login("admin", "guess-" + std::to_string(i)).status == 401);
  const auto refused = attacker.login("admin", "guess-5");
  CHECK(refused.status == 429);
  CHECK(std::stol(refused.header("retry-after")) > 0);
  CHECK(has(refused.body, "Too many failed logins"));
  CHECK(attacker.login("admin", "admin-password").status == 429);  // even the right one, from there
  CHECK(attacker.login("clerk", "clerk-password").status == 429);

  // Another address: another login works, and so does admin (4 failures < 5 per login).
  Browser office(t.base, "127.0.0.2");
  CHECK(office.login("clerk", "clerk-password").status == 303);
  Browser admin(t.base, "127.0.0.3");
  CHECK(admin.login("admin", "admin-password").status == 303);

  // Per login: failures from many addresses add up.
  for (int i = 0; i < 6; ++i) {
    CHECK(Browser(t.base, "127.0.1." + std::to_string(10 + i)).login("clerk", "nope").status == 401);
  }
  CHECK(Browser(t.base, "127.0.1.99").login("clerk", "clerk-password").status == 429);
}

TEST_CASE("a login name is logged truncated, with control characters escaped", "[web][abuse]") {
  Site t;
  Browser b(t.base, "127.0.0.5");
  const std::string name = std::string(5000, 'A') + "\r\nforged";
  CHECK(b.login(name, "x").status == 401);
  const std::string log = t.log();
  INFO(log.substr(0, 2000));
  CHECK(has(log, "failed login for '" + std::string(64, 'A') + "... (5008 bytes)' from 127.0.0.5"));
  CHECK_FALSE(has(log, std::string(65, 'A')));
  CHECK_FALSE(has(log, "forged"));
}

TEST_CASE("after login only same-site paths are followed; every trick lands on /web", "[web][abuse]") {
  Site t;
  const std::vector<std::string> attacks = {"//evil.example/",
                                            "///evil.example/",
                                            "/\\evil.example",
                                            "\\\\evil.example",
                                            "/\t/evil.example/",
                                            "/%09/evil.example/",
                                            "/%2F/evil.example",
                                            "/%2f%2fevil.example",
                                            "/%252F%252Fevil.example",
                                            "/%5Cevil.example",
                                            "/%5cevil.example",
                                            "https://evil.example/",
                                            "http:evil.example",
                                            "javascript:alert(1)",
                                            "evil.example",
                                            "/\r\nSet-Cookie: x=1",
                                            "/%0d%0aSet-Cookie:%20x=1",
                                            "/web%0a",
                                            "/web\n",
                                            "/ /evil.example",
                                            "/%20/evil.example",
                                            " /web",
                                            "/web\x7f",
                                            "/caf\xc3\xa9",
                                            "/%00",
                                            std::string("/\0/evil", 7),
                                            "/%25252F%25252Fevil.example",
                                            std::string(3000, '/')};
  Browser b(t.base, "127.0.0.7");
  for (const auto& target : attacks) {
    INFO("redirect=" << http::url_encode(target));
    const auto r = b.login("admin", "admin-password", target);
    CHECK(r.status == 303);
    CHECK(r.header("location") == "/web");
    // The login page never carries it into its form either.
    const auto page = b.get("/web/login?redirect=" + http::url_encode(target));
    CHECK(page.status == 200);
    CHECK(has(page.body, "name=\"redirect\" value=\"/web\""));
  }
  for (const std::string ok : {"/web/params", "/web/record/ir.mail_server/1?message=Saved%20ok", "/microsoft_outlook/x"}) {
    CHECK(b.login("admin", "admin-password", ok).header("location") == ok);
    CHECK(web::safe_redirect(ok) == ok);
  }
  CHECK(web::safe_redirect(std::nullopt) == "/web");
}

TEST_CASE("cookies carry Secure when web.base.url is https, read while serving", "[web]") {
  Site t;
  Browser b(t.base);
  CHECK_FALSE(has(b.get("/web/login").set_cookie("login_csrf"), "Secure"));
  t.param("web.base.url", "https://erp.example.com");
  b.cookies.clear();
  const auto form = b.get("/web/login");
  CHECK(has(form.set_cookie("login_csrf"), "; Secure"));
  const auto in = b.login("admin", "admin-password");
  REQUIRE(in.status == 303);
  CHECK(has(in.set_cookie("session_id"), "; Secure"));
  CHECK(has(in.set_cookie("session_id"), "HttpOnly"));
  t.param("web.base.url", "http://erp.example.com");
  Browser plain(t.base);
  CHECK_FALSE(has(plain.login("admin", "admin-password").set_cookie("session_id"), "Secure"));
}

TEST_CASE("health: 200 normally, 503 with the reason on a database error or a full disk", "[web][faults]") {
  SECTION("database") {
    Site t;
    Browser b(t.base);
    CHECK(b.get("/web/health").status == 200);
    // A database that fails the health check's queries, whichever connection serves them (a
    // dropped connection would only break this thread's one once connections are pooled).
    auto sql = [&](const std::string& q) {
      auto lock = t.host->db().lock();
      t.host->db().session() << q;
    };
    sql("ALTER TABLE ir_module_module RENAME TO ir_module_module_away");
    const auto down = b.get("/web/health");
    CHECK(down.status == 503);
    CHECK(has(down.body, "\"database_ok\":false"));
    CHECK(has(down.body, "\"reason\":\"database: "));
    CHECK(has(down.body, "\"status\":\"degraded\""));
    sql("ALTER TABLE ir_module_module_away RENAME TO ir_module_module");
    CHECK(b.get("/web/health").status == 200);
  }
  SECTION("disk") {
    bool full = false;
    web::WebOptions o;
    o.disk_check = [&]() -> std::optional<std::string> {
      if (full) return "disk full: 12 kB free in /data";
      return std::nullopt;
    };
    Site t(o);
    Browser b(t.base);
    CHECK(b.get("/web/health").status == 200);
    full = true;
    const auto down = b.get("/web/health");
    CHECK(down.status == 503);
    CHECK(has(down.body, "\"disk_ok\":false"));
    CHECK(has(down.body, "disk full: 12 kB free"));
    full = false;
    CHECK(b.get("/web/health").status == 200);
  }
}

TEST_CASE("password hashing runs outside the database lock", "[web][load]") {
  web::WebOptions o;
  o.address_throttle.free_failures = 1000;
  o.login_throttle.free_failures = 1000;
  // Two connections for four logins: a login that kept its connection (or a transaction) while
  // hashing would leave the sampler below waiting for one.
  ::setenv("JUNIPER_DB_POOL", "2", 1);
  Site t(o, 6);
  ::unsetenv("JUNIPER_DB_POOL");
  using clock = std::chrono::steady_clock;
  const std::string hash = juniper::crypto::hash_password("x");
  const auto s0 = clock::now();
  juniper::crypto::verify_password("y", hash);
  const auto scrypt = clock::now() - s0;

  std::atomic<int> running{4};
  std::vector<std::thread> logins;
  for (int i = 0; i < 4; ++i) {
    logins.emplace_back([&] {
      Browser b(t.base);
      for (int k = 0; k < 3; ++k) b.login("admin", "wrong");
      --running;
    });
  }
  // While four logins hash passwords, the database stays free for everyone else: a connection
  // and a write transaction (the write lock) are there at once. Sampled every few ms (a pacing,
  // not a wait): back to back, this thread would starve the logins of the mutex and never see
  // it held.
  std::vector<clock::duration> waits;
  while (running > 0) {
    const auto a = clock::now();
    {
      auto lock = t.host->db().lock();
      juniper::Transaction tr(t.host->db().session());
      tr.commit();
    }
    waits.push_back(clock::now() - a);
    std::this_thread::sleep_for(std::chrono::milliseconds(3));
  }
  for (auto& th : logins) th.join();
  REQUIRE_FALSE(waits.empty());
  // The mean, not the median: a waiter woken when a login frees a connection races the other
  // waiters for it, so a held connection shows as a few long waits among quick ones.
  clock::duration total{};
  for (const auto& w : waits) total += w;
  const auto mean = total / static_cast<long>(waits.size());
  using ms = std::chrono::duration<double, std::milli>;
  INFO("one scrypt " << ms(scrypt).count() << " ms, mean wait for a connection and the write lock " << ms(mean).count()
                     << " ms over " << waits.size() << " samples");
  CHECK(mean < scrypt / 4);
}

TEST_CASE("Compose takes a long text (up to its 4 MB limit) from a logged-in administrator", "[web][load]") {
  Site t;
  Browser b(t.base);
  REQUIRE(b.login("admin", "admin-password").status == 303);
  const std::string csrf = Browser::value_of(b.get("/web/compose").body, "name=\"csrf_token\" value=\"");
  const std::string text(1024 * 1024, 'x');
  const auto queued =
      b.post("/web/compose", "from=a%40example.com&to=b%40example.com&subject=Long&body=" + text + "&csrf_token=" + csrf);
  CHECK(queued.status == 303);
  CHECK(has(queued.header("location"), "/web/record/mail.mail/"));
  CHECK(b.post("/web/compose", "body=" + std::string(web::kComposeBodyLimit, 'x')).status == 413);
}

TEST_CASE("Compose refuses a recipient SMTP cannot carry, says why next to the form and keeps the input", "[web]") {
  Site t;
  Browser b(t.base);
  REQUIRE(b.login("admin", "admin-password").status == 303);
  const std::string csrf = Browser::value_of(b.get("/web/compose").body, "name=\"csrf_token\" value=\"");
  const auto refused = b.post("/web/compose",
                              "from=a%40example.com&to=b%C3%B8b%40example.com&subject=Hello+there&body=Kept+text"
                              "&csrf_token=" +
                                  csrf);
  CHECK(refused.status == 400);
  CHECK(has(refused.body, "not plain ASCII"));
  CHECK(has(refused.body, "Kept text"));  // what was typed is still in the form
  CHECK(has(refused.body, "Hello there"));
  auto lock = t.host->db().lock();
  int queued = -1;
  t.host->db().session() << "SELECT COUNT(*) FROM mail_mail", soci::into(queued);
  CHECK(queued == 0);
}

TEST_CASE("a throttled address is logged once when it is locked, not at every refused attempt", "[web][abuse]") {
  web::WebOptions o;
  o.address_throttle.free_failures = 2;
  o.address_throttle.first_delay = std::chrono::hours(1);
  Site t(o);
  Browser b(t.base, "127.0.0.9");
  for (int i = 0; i < 3; ++i) CHECK(b.login("admin", "wrong").status == 401);
  for (int i = 0; i < 30; ++i) CHECK(b.login("admin", "wrong").status == 429);
  const std::string log = t.log();
  std::size_t locked = 0;
  for (auto p = log.find("logins from 127.0.0.9 refused for"); p != std::string::npos;
       p = log.find("logins from 127.0.0.9 refused for", p + 1)) {
    ++locked;
  }
  CHECK(locked == 1);
  CHECK_FALSE(has(log, "throttled"));
}
