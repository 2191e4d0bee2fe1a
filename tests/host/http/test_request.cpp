#include "http/request.hpp"

#include <catch2/catch.hpp>

using namespace juniper::http;

TEST_CASE("url_encode and url_decode use curl's rules", "[request]") {
  CHECK(url_encode("a b&c=d/é") == "a%20b%26c%3Dd%2F%C3%A9");
  CHECK(url_encode("AZaz09-._~") == "AZaz09-._~");
  CHECK(url_decode("%C3%A9+x") == "é+x");
  CHECK(url_decode("%C3%A9+x", true) == "é x");
  CHECK(url_decode("a%2Bb", true) == "a+b");
  CHECK(url_decode(url_encode("round trip & = ?")) == "round trip & = ?");
  CHECK(url_decode("%00", false) == std::string(1, '\0'));
}

TEST_CASE("parse_urlencoded keeps order, repeats and empty values", "[request]") {
  auto v = parse_urlencoded("a=1&b=x+y&c=%C3%A9&c=2&&flag&e=");
  REQUIRE(v.size() == 6);
  CHECK(v[0] == std::pair<std::string, std::string>{"a", "1"});
  CHECK(v[1] == std::pair<std::string, std::string>{"b", "x y"});
  CHECK(v[2] == std::pair<std::string, std::string>{"c", "é"});
  CHECK(v[3] == std::pair<std::string, std::string>{"c", "2"});
  CHECK(v[4] == std::pair<std::string, std::string>{"flag", ""});
  CHECK(v[5] == std::pair<std::string, std::string>{"e", ""});
}

TEST_CASE("Request accessors", "[request]") {
  Request r;
  r.query = "a=1&b=x+y&c=%C3%A9&c=2";
  r.body = "u=admin&p=s%26cret";
  r.headers["content-type"] = "application/x-www-form-urlencoded; charset=UTF-8";
  r.headers["Cookie"] = "session_id=abc; theme=\"dark\"; empty=";

  CHECK(r.query_param("c") == "é");  // first wins
  CHECK(r.query_param("b") == "x y");
  CHECK_FALSE(r.query_param("zz"));
  CHECK(r.form_param("p") == "s&cret");
  CHECK(r.form_params().size() == 2);
  CHECK(r.cookie("session_id") == "abc");
  CHECK(r.cookie("theme") == "dark");
  CHECK(r.cookie("empty") == "");
  CHECK_FALSE(r.cookie("session"));
  CHECK(r.header("Content-Type") == "application/x-www-form-urlencoded; charset=UTF-8");
  CHECK(r.header("COOKIE").has_value());

  SECTION("non-form bodies are not parsed as forms") {
    r.headers["Content-Type"] = "application/json";
    CHECK(r.form_params().empty());
    CHECK_FALSE(r.form_param("u"));
  }
  SECTION("a missing Content-Type is treated as a form") {
    r.headers.erase("content-type");
    CHECK(r.form_param("u") == "admin");
  }
}

TEST_CASE("Response helpers", "[request]") {
  auto h = Response::html(200, "<p>x</p>");
  CHECK(h.header("content-type") == "text/html; charset=utf-8");
  CHECK(Response::json(201, "{}").header("Content-Type") == "application/json");
  CHECK(Response::text(404, "no").status == 404);
  auto r = Response::redirect("/web");
  CHECK(r.status == 303);
  CHECK(r.header("Location") == "/web");

  r.set_header("X-A", "1");
  r.set_header("x-a", "2");
  CHECK(r.header("X-A") == "2");
  r.set_cookie("theme", "dark");
  CHECK(r.header("Set-Cookie") == "theme=dark; Path=/; HttpOnly; SameSite=Lax");

  CookieOptions o;
  o.secure = true;
  o.max_age = std::chrono::seconds(0);
  o.same_site = "Strict";
  CHECK(make_set_cookie("a", "", o) == "a=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict");
  CHECK_THROWS_AS(make_set_cookie("a", "x;\r\nSet-Cookie: evil=1"), std::invalid_argument);
  CHECK_THROWS_AS(make_set_cookie("bad name", "x"), std::invalid_argument);
}
