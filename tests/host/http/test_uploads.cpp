// Uploads (Router::set_upload): an admitted body is received into an unlinked spool file, never
// memory; route limit, disk budget, free space and a disk that fills up mid-body each give their
// own answer, and nothing is left behind.
#include "http/server.hpp"
#include "test_util.hpp"

#include <catch2/catch.hpp>

#include <sys/resource.h>

#include <atomic>
#include <condition_variable>
#include <csignal>
#include <filesystem>
#include <future>
#include <mutex>
#include <thread>

namespace http = juniper::http;
using http::Request;
using http::Response;
using http::Router;
using http::Server;
using http::ServerOptions;
using namespace http::test;
using namespace std::chrono_literals;

namespace {

// A fresh, empty spool folder, removed afterwards.
struct SpoolDir {
  std::filesystem::path path = std::filesystem::temp_directory_path() / ("juniper-uploads-" + std::to_string(::getpid()));
  SpoolDir() {
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~SpoolDir() { std::filesystem::remove_all(path); }
  bool empty() const { return std::filesystem::is_empty(path); }
};

struct Log {
  std::mutex mu;
  std::vector<std::string> lines;
  std::size_t count(std::string_view part) {
    std::lock_guard lock(mu);
    return static_cast<std::size_t>(
        std::count_if(lines.begin(), lines.end(), [&](const auto& l) { return l.find(part) != std::string::npos; }));
  }
};

ServerOptions upload_options(const SpoolDir& spool, Log& log) {
  ServerOptions o;
  o.port = 0;
  o.spool_dir = spool.path;
  o.max_body = 64 * 1024;
  o.max_inflight_body = 1024 * 1024;  // far below the uploads: they must not count here
  o.log = [&log](std::string_view s) {
    std::lock_guard lock(log.mu);
    log.lines.emplace_back(s);
  };
  return o;
}

// What the handler saw of an upload: "file SIZE SUM" or "memory SIZE".
std::string describe(const Request& q) {
  if (!q.body_file) return "memory " + std::to_string(q.body.size());
  std::uint64_t sum = 0;
  q.body_file->each_chunk([&](std::string_view piece) {
    for (unsigned char c : piece) sum += c;
  });
  return std::string(q.body_file->in_file() ? "file " : "not-a-file ") + std::to_string(q.body_file->size()) + " " +
         std::to_string(sum) + (q.body.empty() ? "" : " and a body in memory");
}

// `n` bytes cycling through every byte value, and their sum.
std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>(i % 251);
  return s;
}
std::uint64_t sum_of(const std::string& s) {
  std::uint64_t sum = 0;
  for (unsigned char c : s) sum += c;
  return sum;
}

Response described(const Request& q) { return Response::text(200, describe(q)); }

std::shared_ptr<Router> upload_router(std::size_t limit, std::function<Response(const Request&)> handler = described) {
  auto r = std::make_shared<Router>();
  r->add("POST", "/up", handler);
  r->set_body_limit("POST", "/up", 1024);  // what a request not admitted gets
  r->set_upload("POST", "/up", {limit, [](const Request& head) { return head.header("X-Admit") == "yes"; }});
  return r;
}

}  // namespace

TEST_CASE("Router upload rules: on exact and prefix routes only, with an admit function", "[uploads]") {
  Router r;
  r.add("POST", "/form", [](const Request&) { return Response::text(200, ""); });
  r.add_prefix("POST", "/files/", [](const Request&) { return Response::text(200, ""); });
  auto admit = [](const Request&) { return true; };
  r.set_upload("POST", "/form", {100, admit});
  r.set_upload("POST", "/files/", {200, admit});
  REQUIRE(r.upload("POST", "/form") != nullptr);
  CHECK(r.upload("POST", "/form")->limit == 100u);
  CHECK(r.upload("POST", "/files/a/b")->limit == 200u);
  CHECK(r.upload("GET", "/form") == nullptr);
  CHECK(r.upload("POST", "/other") == nullptr);
  CHECK_THROWS_AS(r.set_upload("POST", "/nope", {1, admit}), std::invalid_argument);
  CHECK_THROWS_AS(r.set_upload("POST", "/form", {1, {}}), std::invalid_argument);
}

TEST_CASE("an admitted upload is received into a spool file, not memory; others keep the route's limit", "[uploads]") {
  SpoolDir spool;
  Log log;
  Server server(upload_options(spool, log));
  std::atomic<std::size_t> memory_seen{1}, disk_seen{0};
  server.set_router(upload_router(64 * 1024 * 1024, [&](const Request& q) {
    memory_seen = server.inflight_body_bytes();
    disk_seen = server.inflight_upload_bytes();
    return Response::text(200, describe(q));
  }));
  server.start();
  const std::string url = base_url(server.port()) + "/up";
  Client c;

  const std::string body = pattern(20 * 1024 * 1024);  // 20x the memory cap of all bodies
  const auto reply = c.post(url, body, {"X-Admit: yes", "Expect:"});
  CHECK(reply.status == 200);
  CHECK(reply.body == "file " + std::to_string(body.size()) + " " + std::to_string(sum_of(body)));
  CHECK(memory_seen == 0u);         // the memory budget never saw it
  CHECK(disk_seen == body.size());  // its share of the disk budget, while handled
  CHECK(server.inflight_upload_bytes() == 0u);
  CHECK(spool.empty());  // unlinked from the start: nothing to clean, even after a crash

  // Chunked (no length announced): received whole, in the same way.
  const std::string small = pattern(3 * 1024 * 1024 + 7);
  CHECK(c.post(url, small, {"X-Admit: yes", "Transfer-Encoding: chunked", "Expect:"}).body ==
        "file " + std::to_string(small.size()) + " " + std::to_string(sum_of(small)));
  // With Expect: 100-continue (what curl sends for big bodies), the same.
  CHECK(c.post(url, small, {"X-Admit: yes"}).body ==
        "file " + std::to_string(small.size()) + " " + std::to_string(sum_of(small)));

  // Not admitted: the route's ordinary limit, in memory.
  CHECK(c.post(url, std::string(1000, 'a')).body == "memory 1000");
  CHECK(c.post(url, std::string(2000, 'a'), {"Expect:"}).status == 413);
  CHECK(c.post(url, std::string(2000, 'a'), {"X-Admit: no", "Expect:"}).status == 413);
}

TEST_CASE("an upload over its route's limit gets 413, over the disk budget 503, with too little free disk 507", "[uploads]") {
  SpoolDir spool;
  Log log;
  auto o = upload_options(spool, log);
  o.max_inflight_upload = 10 * 1024 * 1024;
  std::mutex mu;
  std::condition_variable cv;
  bool entered = false, release = false;
  SECTION("limit and budget") {
    Server server(o);
    server.set_router(upload_router(8 * 1024 * 1024, [&](const Request& q) {
      if (q.header("X-Hold")) {
        std::unique_lock lock(mu);
        entered = true;
        cv.notify_all();
        cv.wait(lock, [&] { return release; });
      }
      return Response::text(200, describe(q));
    }));
    server.start();
    const std::string url = base_url(server.port()) + "/up";
    // Announced over the limit: refused from the head, nothing read.
    const auto over =
        raw_exchange(server.port(), "POST /up HTTP/1.1\r\nHost: x\r\nX-Admit: yes\r\nContent-Length: 8388609\r\n\r\nabc");
    CHECK(over.rfind("HTTP/1.1 413", 0) == 0);
    // Chunked over the limit: counted as it arrives.
    Client c;
    CHECK(c.post(url, std::string(8 * 1024 * 1024 + 1, 'x'), {"X-Admit: yes", "Transfer-Encoding: chunked", "Expect:"}).status ==
          413);

    auto held = std::async(std::launch::async, [&] {
      Client h;
      return h.post(url, std::string(7 * 1024 * 1024, 'h'), {"X-Admit: yes", "X-Hold: 1", "Expect:"});
    });
    {
      std::unique_lock lock(mu);
      REQUIRE(cv.wait_for(lock, 10s, [&] { return entered; }));
    }
    const auto busy = c.post(url, std::string(4 * 1024 * 1024, 'b'), {"X-Admit: yes", "Expect:"});
    CHECK(busy.status == 503);
    CHECK(busy.header("Retry-After") == "1");
    CHECK(c.post(url, std::string(2 * 1024 * 1024, 'b'), {"X-Admit: yes", "Expect:"}).status == 200);  // what fits passes
    {
      std::lock_guard lock(mu);
      release = true;
    }
    cv.notify_all();
    CHECK(held.get().status == 200);
    CHECK(eventually([&] { return server.inflight_upload_bytes() == 0; }));
  }
  SECTION("free disk") {
    o.min_free_spool = std::uint64_t{1} << 62;  // more than any disk has
    Server server(o);
    server.set_router(upload_router(8 * 1024 * 1024));
    server.start();
    Client c;
    const auto full = c.post(base_url(server.port()) + "/up", std::string(1024 * 1024, 'f'), {"X-Admit: yes", "Expect:"});
    CHECK(full.status == 507);
    CHECK(full.body.find("no room") != std::string::npos);
    CHECK(server.inflight_upload_bytes() == 0u);
  }
}

TEST_CASE("a disk that fills up under an upload: 507, one log line naming the route, the file gone", "[uploads]") {
  SpoolDir spool;
  Log log;
  Server server(upload_options(spool, log));
  std::atomic<int> handled{0};
  server.set_router(upload_router(64 * 1024 * 1024, [&](const Request& q) {
    ++handled;
    return Response::text(200, describe(q));
  }));
  server.start();
  // The process may write files of at most 4 MB: the spool file's write past it fails (EFBIG),
  // as it would with ENOSPC on a full disk.
  rlimit old{};
  REQUIRE(::getrlimit(RLIMIT_FSIZE, &old) == 0);
  const auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  rlimit small = old;
  small.rlim_cur = 4 * 1024 * 1024;
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
  Client c;
  const auto reply = c.post(base_url(server.port()) + "/up", std::string(8 * 1024 * 1024, 'd'), {"X-Admit: yes", "Expect:"});
  ::setrlimit(RLIMIT_FSIZE, &old);
  std::signal(SIGXFSZ, old_handler);
  CHECK(reply.status == 507);
  CHECK(handled == 0);
  CHECK(log.count("an upload to /up was dropped") == 1);
  CHECK(eventually([&] { return server.inflight_upload_bytes() == 0; }));
  CHECK(spool.empty());
  // The server goes on: the next upload that fits is received.
  CHECK(c.post(base_url(server.port()) + "/up", std::string(1024 * 1024, 'e'), {"X-Admit: yes", "Expect:"}).status == 200);
}

TEST_CASE("a refused upload is answered by the route's refuse function, with the server's status", "[uploads]") {
  SpoolDir spool;
  Log log;
  auto o = upload_options(spool, log);
  o.max_inflight_upload = 1024;
  Server server(o);
  auto r = std::make_shared<Router>();
  r->add("POST", "/up", described);
  r->add("POST", "/broken", described);
  auto admit = [](const Request&) { return true; };
  r->set_upload("POST", "/up", {4096, admit, [](int status, const std::string& why, const Request& head) {
                                  return Response::html(200,
                                                        "<p>" + std::to_string(status) + " " + why + " " + head.path + "</p>");
                                }});
  r->set_upload("POST", "/broken", {4096, admit, [](int, const std::string&, const Request&) -> Response {
                                      throw std::runtime_error("no page today");
                                    }});
  server.set_router(r);
  server.start();
  Client c;
  const std::string base = base_url(server.port());
  const auto too_large = c.post(base + "/up", std::string(5000, 'x'), {"Expect:"});
  CHECK(too_large.status == 413);
  CHECK(too_large.body == "<p>413 the upload is larger than this form takes /up</p>");
  const auto busy = c.post(base + "/up", std::string(2000, 'x'), {"Expect:"});  // over the 1 kB budget
  CHECK(busy.status == 503);
  CHECK(busy.header("Retry-After") == "1");
  CHECK(busy.body == "<p>503 too many uploads are under way; send it again in a moment /up</p>");
  const auto plain = c.post(base + "/broken", std::string(5000, 'x'), {"Expect:"});
  CHECK(plain.status == 413);
  CHECK(plain.body == "Payload Too Large\n");
  CHECK(log.count("the refusal page of /broken failed: no page today") == 1);
}
