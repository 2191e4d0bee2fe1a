#include "http/router.hpp"

#include <catch2/catch.hpp>

using namespace juniper::http;

namespace {
Request req(std::string method, std::string path) {
  Request r;
  r.method = std::move(method);
  r.path = r.target = std::move(path);
  return r;
}
Handler body(std::string b) {
  return [b](const Request&) { return Response::text(200, b); };
}
}  // namespace

TEST_CASE("Router matches exact and prefix routes", "[router]") {
  Router r;
  r.add("GET", "/web", body("web"));
  r.add("POST", "/web", body("web-post"));
  r.add_prefix("GET", "/static/", body("static"));
  r.add_prefix("GET", "/static/mod/", body("mod"));
  r.add("GET", "/static/exact", body("exact"));
  CHECK(r.size() == 5);

  CHECK(r.dispatch(req("GET", "/web"))->body == "web");
  CHECK(r.dispatch(req("POST", "/web"))->body == "web-post");
  CHECK(r.dispatch(req("GET", "/static/a.css"))->body == "static");
  CHECK(r.dispatch(req("GET", "/static/mod/a.js"))->body == "mod");
  CHECK(r.dispatch(req("GET", "/static/exact"))->body == "exact");
  CHECK(r.dispatch(req("HEAD", "/web"))->body == "web");  // HEAD falls back to GET

  CHECK_FALSE(r.dispatch(req("GET", "/nope")));
  CHECK_FALSE(r.dispatch(req("GET", "/web/")));
  CHECK(r.handle(req("GET", "/nope")).status == 404);

  auto m = r.dispatch(req("DELETE", "/web"));
  REQUIRE(m);
  CHECK(m->status == 405);
  CHECK(m->header("Allow") == "GET, HEAD, POST");
}

TEST_CASE("Router rejects bad and duplicate routes", "[router]") {
  Router r;
  r.add("GET", "/a", body("a"));
  CHECK_THROWS_AS(r.add("GET", "/a", body("again")), std::logic_error);
  CHECK_THROWS_AS(r.add("GET", "relative", body("x")), std::invalid_argument);
  CHECK_THROWS_AS(r.add("GET", "/b", Handler{}), std::invalid_argument);
  r.add_prefix("GET", "/p/", body("p"));
  CHECK_THROWS_AS(r.add_prefix("GET", "/p/", body("p")), std::logic_error);

  Router other;
  other.add("GET", "/z", body("z"));
  r.swap(other);
  CHECK(r.size() == 1);
  CHECK(other.size() == 2);
}
