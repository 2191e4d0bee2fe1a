// Load and fault behaviour of the HTTP layer: per-route body limits and the in-flight cap,
// forms parsed once, accept back-off on EMFILE, the login throttle, the stateless pre-login
// CSRF token and the session cap.
#include "http/csrf.hpp"
#include "http/server.hpp"
#include "http/session.hpp"
#include "http/throttle.hpp"
#include "test_util.hpp"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

using namespace juniper::http;
using namespace juniper::http::test;
using namespace std::chrono_literals;

namespace {

struct Logs {
  std::mutex mu;
  std::vector<std::string> lines;
  std::function<void(std::string_view)> sink() {
    return [this](std::string_view s) {
      std::lock_guard lock(mu);
      lines.emplace_back(s);
    };
  }
  std::size_t count(std::string_view part) {
    std::lock_guard lock(mu);
    return static_cast<std::size_t>(
        std::count_if(lines.begin(), lines.end(), [&](const auto& l) { return l.find(part) != std::string::npos; }));
  }
  std::vector<std::string> matching(std::string_view part) {
    std::lock_guard lock(mu);
    std::vector<std::string> out;
    for (const auto& l : lines)
      if (l.find(part) != std::string::npos) out.push_back(l);
    return out;
  }
};

ServerOptions options(Logs& logs) {
  ServerOptions o;
  o.port = 0;
  o.log = logs.sink();
  return o;
}

int connect_to(unsigned short port, int fd) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
}

std::size_t open_fds() {
  std::size_t n = 0;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (readdir(d) != nullptr) ++n;
    closedir(d);
  }
  return n;
}

}  // namespace

TEST_CASE("Router body limits: per route, a default, HEAD as GET", "[limits]") {
  Router r;
  r.add("POST", "/small", [](const Request&) { return Response::text(200, "x"); });
  r.add_prefix("POST", "/big/", [](const Request&) { return Response::text(200, "x"); });
  r.add("GET", "/page", [](const Request&) { return Response::text(200, "x"); });
  CHECK_FALSE(r.body_limit("POST", "/small"));  // no default: the server's ceiling applies
  r.set_default_body_limit(1000);
  r.set_body_limit("POST", "/small", 10);
  r.set_body_limit("POST", "/big/", 5000);
  r.set_body_limit("GET", "/page", 7);
  CHECK(r.body_limit("POST", "/small") == 10u);
  CHECK(r.body_limit("POST", "/big/x/y") == 5000u);
  CHECK(r.body_limit("HEAD", "/page") == 7u);
  CHECK(r.body_limit("PUT", "/small") == 1000u);
  CHECK(r.body_limit("POST", "/unknown") == 1000u);
  CHECK_THROWS_AS(r.set_body_limit("POST", "/nope", 1), std::invalid_argument);
}

TEST_CASE("a body over its route's limit is refused before it is read; others still pass", "[limits]") {
  Logs logs;
  Server server(options(logs));
  std::atomic<int> handled{0};
  auto r = std::make_shared<Router>();
  r->add("POST", "/login", [&](const Request& q) {
    ++handled;
    return Response::text(200, std::to_string(q.body.size()));
  });
  r->add("POST", "/upload", [&](const Request& q) { return Response::text(200, std::to_string(q.body.size())); });
  r->set_default_body_limit(64 * 1024);
  r->set_body_limit("POST", "/login", 1024);
  server.set_router(r);
  server.start();
  const std::string base = base_url(server.port());
  Client c;

  CHECK(c.post(base + "/login", std::string(1024, 'a')).body == "1024");
  CHECK(c.post(base + "/login", std::string(1025, 'a'), {"Expect:"}).status == 413);
  CHECK(c.post(base + "/upload", std::string(60 * 1024, 'a')).body == std::to_string(60 * 1024));
  CHECK(c.post(base + "/nowhere", std::string(65 * 1024, 'a'), {"Expect:"}).status == 413);
  // A huge announced body: the answer comes at once, nothing of it is buffered.
  const auto out = raw_exchange(server.port(), "POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: 30000000\r\n\r\nlogin=a", 5);
  CHECK(out.rfind("HTTP/1.1 413", 0) == 0);
  // Chunked: counted as it arrives.
  const std::string chunk(2000, 'z');
  const auto chunked = raw_exchange(server.port(),
                                    "POST /login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                                    "7d0\r\n" +
                                        chunk + "\r\n0\r\n\r\n");
  CHECK(chunked.rfind("HTTP/1.1 413", 0) == 0);
  CHECK(handled == 1);
  CHECK(eventually([&] { return server.inflight_body_bytes() == 0; }));
}

TEST_CASE("bodies in flight are capped server-wide: 503 with Retry-After instead of buffering", "[limits]") {
  Logs logs;
  auto o = options(logs);
  o.max_inflight_body = 100 * 1024;
  Server server(o);
  std::mutex mu;
  std::condition_variable cv;
  bool entered = false, release = false;
  auto r = std::make_shared<Router>();
  r->add("POST", "/hold", [&](const Request& q) {
    std::unique_lock lock(mu);
    entered = true;
    cv.notify_all();
    cv.wait(lock, [&] { return release; });
    return Response::text(200, std::to_string(q.body.size()));
  });
  r->add("POST", "/size", [](const Request& q) { return Response::text(200, std::to_string(q.body.size())); });
  server.set_router(r);
  server.start();
  const std::string base = base_url(server.port());

  auto held = std::async(std::launch::async, [&] {
    Client c;
    return c.post(base + "/hold", std::string(80 * 1024, 'a'));
  });
  {
    std::unique_lock lock(mu);
    REQUIRE(cv.wait_for(lock, 10s, [&] { return entered; }));
  }
  CHECK(server.inflight_body_bytes() == 80u * 1024);
  Client c;
  const auto refused = c.post(base + "/size", std::string(40 * 1024, 'b'), {"Expect:"});
  CHECK(refused.status == 503);
  CHECK(refused.header("Retry-After") == "1");
  CHECK(c.post(base + "/size", std::string(10 * 1024, 'b')).body == "10240");  // what fits still passes
  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
  CHECK(held.get().body == std::to_string(80 * 1024));
  CHECK(eventually([&] { return server.inflight_body_bytes() == 0; }));
  CHECK(c.post(base + "/size", std::string(90 * 1024, 'c')).body == std::to_string(90 * 1024));
}

TEST_CASE("a form is decoded once per request, however many fields are looked up", "[limits]") {
  Request q;
  q.body = "a=1&b=2&c=3";
  for (int i = 0; i < 50; ++i) {
    CHECK(q.form_param("b") == "2");
    CHECK_FALSE(q.form_param("zz"));
  }
  CHECK(q.form_params().size() == 3);
  CHECK(q.form_parse_count() == 1);
  q.body = "b=changed";  // a new body is parsed again
  CHECK(q.form_param("b") == "changed");
  CHECK(q.form_parse_count() == 2);
  q.body = "b=rewritten";  // same size, maybe the same buffer: still seen
  q.body.replace(0, 3, "b=R");
  CHECK(q.form_param("b") == "Rewritten");
  q.headers["Content-Type"] = "application/json";
  CHECK_FALSE(q.form_param("b"));
}

TEST_CASE("EMFILE: accept pauses with back-off, logs once per interval, serves again when descriptors free up", "[accept]") {
  Logs logs;
  auto o = options(logs);
  o.accept_backoff_min = 10ms;
  o.accept_backoff_max = 40ms;
  o.accept_log_interval = 500ms;
  Server server(o);
  auto r = std::make_shared<Router>();
  r->add("GET", "/ok", [](const Request&) { return Response::text(200, "ok"); });
  server.set_router(r);
  server.start();

  // Client sockets are made while descriptors are plenty; then the process is starved.
  std::vector<int> clients;
  for (int i = 0; i < 40; ++i) clients.push_back(::socket(AF_INET, SOCK_STREAM, 0));
  rlimit old{};
  REQUIRE(getrlimit(RLIMIT_NOFILE, &old) == 0);
  rlimit tight = old;
  tight.rlim_cur = open_fds() + 4;
  REQUIRE(setrlimit(RLIMIT_NOFILE, &tight) == 0);
  for (int fd : clients) connect_to(server.port(), fd);  // connect needs no new descriptor

  // Failures keep happening, but are reported in batches: a second report counts several.
  const bool reported_twice = eventually([&] { return logs.count("accept failed") >= 2; }, 10s);
  const auto first_lines = logs.count("accept failed");
  REQUIRE(setrlimit(RLIMIT_NOFILE, &old) == 0);
  for (int fd : clients) ::close(fd);
  CHECK(reported_twice);
  const auto reports = logs.matching("accept failed");
  REQUIRE(reports.size() >= 2);
  INFO(reports[1]);
  CHECK(reports[1].find("Too many open files") != std::string::npos);
  CHECK(reports[1].find("(1 time(s)") == std::string::npos);  // several failures per line
  // 500 ms between reports: a spinning accept would have logged thousands by now.
  CHECK(first_lines <= 4);

  const auto t0 = std::chrono::steady_clock::now();
  Client c;
  CHECK(c.get(base_url(server.port()) + "/ok").body == "ok");
  CHECK(std::chrono::steady_clock::now() - t0 < 2s);
}

TEST_CASE("Throttle: free failures, then a doubling wait, capped; success forgets; table bounded", "[throttle]") {
  auto now = std::chrono::steady_clock::time_point{} + 1h;
  ThrottleOptions o;
  o.free_failures = 3;
  o.first_delay = 1s;
  o.max_delay = 8s;
  o.forget_after = 60s;
  o.max_entries = 100;
  o.now = [&] { return now; };
  Throttle t(o);
  for (int i = 0; i < 3; ++i) {
    CHECK(t.wait("1.2.3.4").count() == 0);
    t.failure("1.2.3.4");
  }
  CHECK(t.wait("1.2.3.4").count() == 0);
  t.failure("1.2.3.4");  // 4th: 1 s
  CHECK(t.wait("1.2.3.4") == 1s);
  CHECK(t.wait("5.6.7.8").count() == 0);  // others unaffected
  now += 1s;
  t.failure("1.2.3.4");  // 5th: 2 s
  CHECK(t.wait("1.2.3.4") == 2s);
  for (int i = 0; i < 10; ++i) t.failure("1.2.3.4");
  CHECK(t.wait("1.2.3.4") == 8s);  // capped
  t.success("1.2.3.4");
  CHECK(t.wait("1.2.3.4").count() == 0);

  for (int i = 0; i < 1000; ++i) t.failure("addr-" + std::to_string(i));
  CHECK(t.size() <= 100);
  // A locked entry survives a flood of others.
  for (int i = 0; i < 5; ++i) t.failure("victim");
  for (int i = 0; i < 1000; ++i) t.failure("flood-" + std::to_string(i));
  CHECK(t.wait("victim").count() > 0);
  // Long keys are cut: memory per entry is bounded.
  t.failure(std::string(1 << 20, 'k'));
  CHECK(t.size() <= 100);
}

TEST_CASE("StatelessCsrf: the form token matches its cookie only, and expires", "[csrf]") {
  auto now = std::chrono::system_clock::now();
  StatelessCsrf csrf("k1", 60min, [&] { return now; });
  const auto a = csrf.issue();
  const auto b = csrf.issue();
  CHECK(a.cookie_value != b.cookie_value);
  CHECK(csrf.verify(a.cookie_value, a.form_token));
  CHECK_FALSE(csrf.verify(a.cookie_value, b.form_token));
  CHECK_FALSE(csrf.verify(b.cookie_value, a.form_token));
  CHECK_FALSE(csrf.verify(a.cookie_value, ""));
  CHECK_FALSE(csrf.verify("", a.form_token));
  CHECK(csrf.issue(a.cookie_value).cookie_value == a.cookie_value);  // reused while valid
  StatelessCsrf other_key("k2", 60min, [&] { return now; });
  CHECK_FALSE(other_key.verify(a.cookie_value, a.form_token));
  // A forged expiry breaks the HMAC.
  std::string forged = a.cookie_value.substr(0, 33) + "99999999999";
  CHECK_FALSE(csrf.verify(forged, a.form_token));
  now += 31min;  // still valid, but too close to its end to hand out again
  CHECK(csrf.verify(a.cookie_value, a.form_token));
  CHECK(csrf.issue(a.cookie_value).cookie_value != a.cookie_value);
  now += 30min;
  CHECK_FALSE(csrf.verify(a.cookie_value, a.form_token));
  CHECK(csrf.issue(a.cookie_value).cookie_value != a.cookie_value);
}

TEST_CASE("SessionStore is capped: the longest idle session goes first", "[session]") {
  auto now = std::chrono::steady_clock::now();
  SessionOptions o;
  o.max_sessions = 3;
  o.now = [&] { return now; };
  SessionStore store(o);
  const auto a = store.create();
  now += 1s;
  const auto b = store.create();
  now += 1s;
  const auto c = store.create();
  now += 1s;
  CHECK(store.find(a.id));  // a is now the most recently seen
  now += 1s;
  const auto d = store.create();
  CHECK(store.size() == 3);
  CHECK_FALSE(store.find(b.id));
  CHECK(store.find(a.id));
  CHECK(store.find(c.id));
  CHECK(store.find(d.id));
  for (int i = 0; i < 100; ++i) store.create();
  CHECK(store.size() == 3);
  store.set_secure_cookie(true);
  CHECK(store.session_cookie("x").find("; Secure") != std::string::npos);
  store.set_secure_cookie(false);
  CHECK(store.session_cookie("x").find("Secure") == std::string::npos);
}
