#include "http/server.hpp"
#include "test_util.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <future>
#include <mutex>
#include <thread>

using namespace juniper::http;
using namespace juniper::http::test;
using namespace std::chrono_literals;

namespace {

std::string join(const std::vector<std::pair<std::string, std::string>>& kv) {
  std::string out;
  for (const auto& [k, v] : kv) out += k + "=" + v + "|";
  return out;
}

struct Logs {
  std::mutex mu;
  std::vector<std::string> lines;
  std::function<void(std::string_view)> sink() {
    return [this](std::string_view s) {
      std::lock_guard lock(mu);
      lines.emplace_back(s);
    };
  }
  std::string all() {
    std::lock_guard lock(mu);
    std::string out;
    for (const auto& l : lines) out += l + "\n";
    return out;
  }
};

std::shared_ptr<Router> demo_router() {
  auto r = std::make_shared<Router>();
  r->add("GET", "/hello", [](const Request&) { return Response::html(200, "<p>hello</p>"); });
  r->add("GET", "/query", [](const Request& q) {
    return Response::text(200, join(q.query_params()) + "first_c=" + q.query_param("c").value_or("?"));
  });
  r->add("POST", "/form", [](const Request& q) {
    return Response::text(200, join(q.form_params()) + "first_c=" + q.form_param("c").value_or("?"));
  });
  r->add("POST", "/size", [](const Request& q) { return Response::text(200, std::to_string(q.body.size())); });
  r->add("GET", "/throw", [](const Request&) -> Response { throw std::runtime_error("secret detail"); });
  r->add("GET", "/cookie", [](const Request& q) {
    auto res = Response::text(200, "x=" + q.cookie("x").value_or("none") + ";y=" + q.cookie("y").value_or("none"));
    res.set_cookie("visited", "1");
    return res;
  });
  r->add("GET", "/cache", [](const Request&) {
    auto res = Response::text(200, "cached");
    res.add_header("Cache-Control", "max-age=60");
    return res;
  });
  r->add("GET", "/remote", [](const Request& q) { return Response::text(200, q.remote); });
  r->add("GET", "/path", [](const Request& q) { return Response::text(200, q.path + "?" + q.query); });
  r->add("GET", "/inject", [](const Request&) {
    auto res = Response::text(200, "x");
    res.add_header("X-Evil", "a\r\nSet-Cookie: pwned=1");
    return res;
  });
  r->add_prefix("GET", "/static/", [](const Request& q) { return Response::text(200, "static:" + q.path); });
  return r;
}

ServerOptions test_options(Logs& logs) {
  ServerOptions o;
  o.port = 0;
  o.log = logs.sink();
  return o;
}

}  // namespace

TEST_CASE("server answers, routes and decodes", "[server]") {
  Logs logs;
  Server server(test_options(logs));
  server.set_router(demo_router());
  server.start();
  REQUIRE(server.port() != 0);
  const std::string base = base_url(server.port());
  Client c;

  SECTION("200 with body and default headers") {
    auto r = c.get(base + "/hello");
    REQUIRE(r.code == CURLE_OK);
    CHECK(r.status == 200);
    CHECK(r.body == "<p>hello</p>");
    CHECK(r.header("Content-Type") == "text/html; charset=utf-8");
    CHECK(r.header("X-Content-Type-Options") == "nosniff");
    CHECK(r.header("X-Frame-Options") == "DENY");
    CHECK(r.header("Referrer-Policy") == "same-origin");
    CHECK(r.header("Cache-Control") == "no-store");
    CHECK(r.header("Server") == "juniper");
    CHECK(r.header("Date").has_value());
  }
  SECTION("handler's Cache-Control wins") {
    auto r = c.get(base + "/cache");
    CHECK(r.headers.count("Cache-Control") == 1);
    CHECK(r.header("Cache-Control") == "max-age=60");
  }
  SECTION("404 and 405") {
    auto r = c.get(base + "/nope");
    CHECK(r.status == 404);
    CHECK(r.header("X-Frame-Options") == "DENY");
    RequestSpec del;
    del.method = "DELETE";
    auto m = c.request(base + "/hello", del);
    CHECK(m.status == 405);
    CHECK(m.header("Allow") == "GET, HEAD");
  }
  SECTION("HEAD gets headers and length but no body") {
    RequestSpec h;
    h.head = true;
    auto r = c.request(base + "/hello", h);
    CHECK(r.status == 200);
    CHECK(r.body.empty());
    CHECK(r.header("Content-Length") == "12");
    CHECK(c.get(base + "/hello").body == "<p>hello</p>");  // connection still in sync
  }
  SECTION("query decoding") {
    auto r = c.get(base + "/query?a=1&b=x+y&c=%C3%A9&c=2");
    CHECK(r.body == "a=1|b=x y|c=é|c=2|first_c=é");
  }
  SECTION("form decoding") {
    auto r = c.post(base + "/form", "a=1&b=x+y&c=%C3%A9&c=2");
    CHECK(r.status == 200);
    CHECK(r.body == "a=1|b=x y|c=é|c=2|first_c=é");
  }
  SECTION("path is decoded, query kept raw, prefix routes") {
    CHECK(c.get(base + "/path?q=%41").body == "/path?q=%41");
    CHECK(c.get(base + "/static/my%20file.css").body == "static:/static/my file.css");
  }
  SECTION("cookies in and out") {
    auto r = c.request(base + "/cookie", RequestSpec{"GET", std::nullopt, {"Cookie: x=1; y=two"}, "", false});
    CHECK(r.body == "x=1;y=two");
    CHECK(r.header("Set-Cookie") == "visited=1; Path=/; HttpOnly; SameSite=Lax");
  }
  SECTION("remote address") { CHECK(c.get(base + "/remote").body == "127.0.0.1"); }
  SECTION("keep-alive reuses the connection") {
    auto first = c.get(base + "/hello");
    auto second = c.get(base + "/hello");
    CHECK(first.new_connections == 1);
    CHECK(second.status == 200);
    CHECK(second.new_connections == 0);
  }
  SECTION("a throwing handler gives a generic 500 and the server keeps serving") {
    auto r = c.get(base + "/throw");
    CHECK(r.status == 500);
    CHECK(r.body.find("secret") == std::string::npos);
    CHECK(logs.all().find("secret detail") != std::string::npos);
    auto again = c.get(base + "/hello");
    CHECK(again.status == 200);
    CHECK(again.new_connections == 0);  // 500 did not cost the connection
  }
  SECTION("a header with CR/LF from a handler becomes 500, not a split response") {
    auto r = c.get(base + "/inject");
    CHECK(r.status == 500);
    CHECK_FALSE(r.header("Set-Cookie"));
  }
  SECTION("targets not starting with '/' are rejected") {
    RequestSpec s;
    s.method = "OPTIONS";
    s.request_target = "*";
    CHECK(c.request(base + "/", s).status == 400);
  }
  SECTION("an oversized request head gets 431") {
    auto out = raw_exchange(server.port(), "GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(70000, 'a') + "\r\n\r\n");
    CHECK(out.rfind("HTTP/1.1 431", 0) == 0);
  }
  SECTION("HTTP/1.0 without keep-alive is closed after the response") {
    auto out = raw_exchange(server.port(), "GET /hello HTTP/1.0\r\n\r\n");
    CHECK(out.rfind("HTTP/1.0 200", 0) == 0);
    CHECK(out.find("<p>hello</p>") != std::string::npos);
  }
  SECTION("garbage is answered with 400") {
    auto out = raw_exchange(server.port(), "BLAH\x01 / HTTP/1.1\r\n\r\n");
    CHECK(out.rfind("HTTP/1.1 400", 0) == 0);
  }
}

TEST_CASE("request body limit", "[server]") {
  Logs logs;
  auto o = test_options(logs);
  o.max_body = 1024;
  Server server(o);
  server.set_router(demo_router());
  server.start();
  const std::string url = base_url(server.port()) + "/size";
  Client c;

  CHECK(c.post(url, std::string(1024, 'a')).body == "1024");

  SECTION("too big, client waits for 100-continue") {
    auto r = c.post(url, std::string(64 * 1024, 'a'), {"Expect: 100-continue"});
    CHECK(r.code == CURLE_OK);
    CHECK(r.status == 413);
  }
  SECTION("too big, client sends the body straight away") {
    auto r = c.post(url, std::string(64 * 1024, 'a'), {"Expect:"});
    CHECK(r.code == CURLE_OK);
    CHECK(r.status == 413);
  }
  SECTION("too big, chunked") {
    std::string chunk(2000, 'z');
    auto out = raw_exchange(server.port(),
                            "POST /size HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                            "7d0\r\n" +
                                chunk + "\r\n0\r\n\r\n");
    CHECK(out.rfind("HTTP/1.1 413", 0) == 0);
  }
  SECTION("within the limit, 100-continue is answered at once") {
    auto r = c.post(url, std::string(1000, 'a'), {"Expect: 100-continue"});
    CHECK(r.body == "1000");
    CHECK(r.seconds < 0.9);  // curl would wait 1 s for a missing 100 Continue
  }
  SECTION("30 MiB default accepts a multi-megabyte body") {
    Server big(test_options(logs));
    big.set_router(demo_router());
    big.start();
    CHECK(c.post(base_url(big.port()) + "/size", std::string(5 * 1024 * 1024, 'b')).body == "5242880");
  }
}

TEST_CASE("idle and slow clients time out", "[server]") {
  Logs logs;
  auto o = test_options(logs);
  o.read_timeout = 1s;
  Server server(o);
  server.set_router(demo_router());
  server.start();
  auto t0 = std::chrono::steady_clock::now();
  auto out = raw_exchange(server.port(), "GET /hello HTTP/1.1\r\nHost: x\r\n", 10);
  auto elapsed = std::chrono::steady_clock::now() - t0;
  CHECK(out.empty());
  CHECK(elapsed < 5s);
  CHECK(elapsed >= 900ms);
}

TEST_CASE("start reports a busy port clearly", "[server]") {
  Logs logs;
  Server first(test_options(logs));
  first.start();
  auto o = test_options(logs);
  o.port = first.port();
  Server second(o);
  try {
    second.start();
    FAIL("second server should not listen");
  } catch (const std::runtime_error& e) {
    std::string msg = e.what();
    CHECK(msg == "cannot listen on 127.0.0.1:" + std::to_string(first.port()) + ": Address already in use");
  }
  CHECK_FALSE(second.running());
  CHECK_THROWS_AS(first.start(), std::logic_error);
}

TEST_CASE("route table can be swapped while serving", "[server]") {
  Logs logs;
  auto o = test_options(logs);
  o.threads = 2;
  Server server(o);
  auto make = [](std::string tag) {
    auto r = std::make_shared<Router>();
    r->add("GET", "/v", [tag](const Request&) { return Response::text(200, tag); });
    if (tag == "B") r->add("GET", "/only-b", [](const Request&) { return Response::text(200, "b"); });
    return std::shared_ptr<const Router>(std::move(r));
  };
  auto a = make("A"), b = make("B");
  server.set_router(a);
  server.start();
  const std::string url = base_url(server.port()) + "/v";

  std::atomic<bool> done{false};
  std::atomic<int> bad{0}, seen_a{0}, seen_b{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < 3; ++i) {
    clients.emplace_back([&] {
      Client c;
      while (!done) {
        auto r = c.get(url);
        if (r.status != 200)
          ++bad;
        else if (r.body == "A")
          ++seen_a;
        else if (r.body == "B")
          ++seen_b;
        else
          ++bad;
      }
    });
  }
  for (int i = 0; i < 200; ++i) {
    server.set_router(i % 2 ? a : b);
    std::this_thread::sleep_for(1ms);
  }
  server.set_router(b);
  done = true;
  for (auto& t : clients) t.join();
  CHECK(bad == 0);
  CHECK(seen_a + seen_b > 0);

  Client c;
  CHECK(c.get(url).body == "B");
  CHECK(c.get(base_url(server.port()) + "/only-b").status == 200);
  server.set_router(a);
  CHECK(c.get(base_url(server.port()) + "/only-b").status == 404);
  server.set_router(nullptr);  // an empty table, not a crash
  CHECK(c.get(url).status == 404);
}

TEST_CASE("stop is graceful", "[server]") {
  Logs logs;
  auto o = test_options(logs);
  o.stop_grace = 5s;
  Server server(o);
  std::promise<void> entered;
  auto r = std::make_shared<Router>();
  r->add("GET", "/slow", [&](const Request&) {
    entered.set_value();
    std::this_thread::sleep_for(300ms);
    return Response::text(200, "done");
  });
  r->add("GET", "/fast", [](const Request&) { return Response::text(200, "fast"); });
  server.set_router(r);
  server.start();
  const std::string base = base_url(server.port());

  // An idle keep-alive connection must not hold stop() for the grace period.
  Client idle;
  CHECK(idle.get(base + "/fast").status == 200);

  auto in_flight = std::async(std::launch::async, [&] {
    Client c;
    return c.get(base + "/slow");
  });
  entered.get_future().wait();
  auto t0 = std::chrono::steady_clock::now();
  server.stop();
  auto took = std::chrono::steady_clock::now() - t0;

  Reply reply = in_flight.get();
  CHECK(reply.code == CURLE_OK);
  CHECK(reply.status == 200);
  CHECK(reply.body == "done");
  CHECK(reply.header("Connection") == "close");
  CHECK(took < 3s);
  CHECK_FALSE(server.running());

  Client after;
  CHECK(after.get(base + "/fast").code == CURLE_COULDNT_CONNECT);
  server.stop();  // idempotent
}
