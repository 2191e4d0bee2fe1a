#include "http/session.hpp"

#include <catch2/catch.hpp>

#include <algorithm>

using namespace juniper::http;
using namespace std::chrono_literals;

TEST_CASE("random_token is hex of the requested length and unique", "[session]") {
  auto a = random_token(32), b = random_token(32);
  CHECK(a.size() == 64);
  CHECK(a != b);
  CHECK(std::all_of(a.begin(), a.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); }));
}

TEST_CASE("SessionStore create, find, update, erase", "[session]") {
  SessionStore store;
  Session s = store.create();
  CHECK(s.id.size() == 64);
  CHECK(s.csrf_token.size() == 64);
  CHECK(s.id != s.csrf_token);

  s.user_id = 7;
  s.login = "admin";
  s.data["lang"] = "fr";
  CHECK(store.update(s));
  auto f = store.find(s.id);
  REQUIRE(f);
  CHECK(f->user_id == 7);
  CHECK(f->data.at("lang") == "fr");
  CHECK_FALSE(store.find("unknown"));

  store.erase(s.id);
  CHECK_FALSE(store.find(s.id));
  CHECK_FALSE(store.update(s));  // a logout is not undone by a late update
  CHECK(store.size() == 0);
}

TEST_CASE("SessionStore rotate gives a fresh session", "[session]") {
  SessionStore store;
  Session old = store.create();
  old.data.emplace("k", "v");  // operator[]= trips GCC 12 -Wrestrict (bug 105329) at -O2
  store.update(old);
  Session fresh = store.rotate(old.id);
  CHECK(fresh.id != old.id);
  CHECK(fresh.csrf_token != old.csrf_token);
  CHECK(fresh.data.empty());
  CHECK(fresh.user_id == 0);
  CHECK_FALSE(store.find(old.id));
  CHECK(store.find(fresh.id));
  CHECK(store.rotate("never-existed").id.size() == 64);
}

TEST_CASE("SessionStore expires idle sessions", "[session]") {
  auto t = std::chrono::steady_clock::now();
  SessionOptions o;
  o.idle_timeout = 1h;
  o.now = [&t] { return t; };
  SessionStore store(o);
  Session a = store.create();
  Session b = store.create();
  t += 50min;
  CHECK(store.find(a.id));  // touching keeps it alive
  t += 50min;
  CHECK(store.find(a.id));
  CHECK_FALSE(store.find(b.id));  // idle 100 min
  t += 61min;
  CHECK(store.purge_expired() == 1);
  CHECK(store.size() == 0);
}

TEST_CASE("check_csrf compares exactly", "[session]") {
  SessionStore store;
  Session s = store.create();
  CHECK(SessionStore::check_csrf(s, s.csrf_token));
  CHECK_FALSE(SessionStore::check_csrf(s, ""));
  CHECK_FALSE(SessionStore::check_csrf(s, s.csrf_token.substr(1)));
  std::string wrong = s.csrf_token;
  wrong.back() = wrong.back() == 'a' ? 'b' : 'a';
  CHECK_FALSE(SessionStore::check_csrf(s, wrong));
  Session empty;
  CHECK_FALSE(SessionStore::check_csrf(empty, ""));
}

TEST_CASE("session cookies", "[session]") {
  SessionStore plain;
  CHECK(plain.session_cookie("abc") == "session_id=abc; Path=/; HttpOnly; SameSite=Lax");
  CHECK(plain.clear_cookie() == "session_id=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax");
  SessionOptions o;
  o.secure_cookie = true;
  SessionStore secure(o);
  CHECK(secure.session_cookie("abc") == "session_id=abc; Path=/; HttpOnly; Secure; SameSite=Lax");
}
