// The SDK's OAuth 2.0 helpers (juniper/sdk/oauth2.hpp) that both provider modules use.
#include <juniper/sdk/oauth2.hpp>

#include <catch2/catch.hpp>

namespace oauth2 = juniper::sdk::oauth2;

TEST_CASE("oauth2: the PKCE S256 challenge is RFC 7636's (appendix B)") {
  CHECK(oauth2::pkce_s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
}

TEST_CASE("oauth2: base64url has no padding and the URL-safe alphabet") {
  const unsigned char bytes[] = {0xfb, 0xff, 0xbf};
  CHECK(oauth2::base64url(bytes, 3) == "-_-_");
  CHECK(oauth2::base64url(bytes, 1) == "-w");
  const std::string t = oauth2::random_token(32);
  CHECK(t.size() == 43);
  CHECK(t != oauth2::random_token(32));
}

TEST_CASE("oauth2: a cookie is read under its exact name and only when it looks like a token") {
  const std::string v(43, 'a');
  CHECK(oauth2::cookie("x=1; app_browser=" + v + "; y=2", "app_browser") == v);
  CHECK(oauth2::cookie("app_browser=" + v + " ", "app_browser") == v);
  CHECK_FALSE(oauth2::cookie("app_browser_x=" + v, "app_browser"));  // another cookie's name
  CHECK_FALSE(oauth2::cookie("app_browser=short", "app_browser"));
  CHECK_FALSE(oauth2::cookie("app_browser=" + std::string(43, '.'), "app_browser"));
  CHECK_FALSE(oauth2::cookie("app_browser=" + std::string(129, 'a'), "app_browser"));
  CHECK_FALSE(oauth2::cookie(std::nullopt, "app_browser"));
}

TEST_CASE("oauth2: secrets compare equal only when the same and not empty") {
  CHECK(oauth2::same_secret("abc", "abc"));
  CHECK_FALSE(oauth2::same_secret("abc", "abd"));
  CHECK_FALSE(oauth2::same_secret("abc", "abcd"));
  CHECK_FALSE(oauth2::same_secret("", ""));
}
