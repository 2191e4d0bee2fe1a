// Where a request came from: forwarded headers believed only from web.trusted_proxies; the
// Settings page's Redirect URI (a computed setting) and its warning when the page was reached
// at another address than web.base.url.
#include "test_host.hpp"
#include "test_site.hpp"

#include "records/params.hpp"
#include "records/settings.hpp"
#include "web/origin.hpp"

#include <catch2/catch.hpp>

using juniper::test::csrf_from;
using juniper::test::TestHost;
namespace records = juniper::records;
namespace web = juniper::web;

namespace {

juniper::http::Request from(const std::string& remote, std::vector<std::pair<std::string, std::string>> headers) {
  juniper::http::Request r;
  r.method = "GET";
  r.target = r.path = "/web/settings";
  r.remote = remote;
  for (auto& [k, v] : headers) r.headers[k] = v;
  return r;
}

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("origins are compared as libcurl normalises them", "[web][origin]") {
  CHECK(web::origin_of("https://ERP.example.com/odoo") == "https://erp.example.com");
  CHECK(web::origin_of("https://erp.example.com:443/") == "https://erp.example.com");  // the default port
  CHECK(web::origin_of("http://erp.example.com:8069") == "http://erp.example.com:8069");
  CHECK(web::origin_of("not a url").empty());
  CHECK(web::parse_proxies(" 10.0.0.2, 10.0.0.3 ,,::1") == std::vector<std::string>{"10.0.0.2", "10.0.0.3", "::1"});
}

TEST_CASE("X-Forwarded-* count only from a trusted proxy", "[web][origin]") {
  const std::vector<std::string> trusted{"10.0.0.2"};
  const std::vector<std::pair<std::string, std::string>> forwarded{{"Host", "10.0.0.9:8069"},
                                                                   {"X-Forwarded-Proto", "https"},
                                                                   {"X-Forwarded-Host", "erp.example.com"},
                                                                   {"X-Forwarded-For", "203.0.113.66, 198.51.100.7"}};
  SECTION("through the trusted proxy: the browser's scheme, host and address") {
    const auto s = web::seen(from("10.0.0.2", forwarded), trusted);
    CHECK(s.origin == "https://erp.example.com");
    CHECK(s.client == "198.51.100.7");  // the nearest hop the proxy saw; the one before could be made up
  }
  SECTION("the same headers from anyone else are ignored") {
    const auto s = web::seen(from("192.0.2.1", forwarded), trusted);
    CHECK(s.origin == "http://10.0.0.9:8069");
    CHECK(s.client == "192.0.2.1");
  }
}

TEST_CASE("Settings shows the Redirect URI to register, computed from web.base.url, and warns about another address",
          "[web][origin]") {
  TestHost h;
  {
    auto lock = h.host->db().lock();
    h.host->modules().install({"microsoft_outlook"});
    auto env = h.host->env();
    records::setting_set(env, "external_email_server_default", "true");
    records::param_set(env, "web.base.url", "https://erp.example.com");
    // Computed: shown, never stored, refused when set.
    CHECK_THROWS_WITH(records::setting_set(env, "microsoft_outlook_redirect_uri", "https://evil.example/x"),
                      Catch::Contains("computed"));
  }
  juniper::test::TestSite site{*h.host};
  auto page = site.browser->get("/web/settings").body;
  CHECK(has(page,
            "<label for=\"f_microsoft_outlook_redirect_uri\">Redirect URI</label><input id=\"f_microsoft_outlook_redirect_uri\" "
            "readonly size=\"60\" value=\"https://erp.example.com/microsoft_outlook/confirm\">"));
  CHECK(has(page, ">Copy</button>"));
  // Reached at the test server's own address, not web.base.url's: said, with the way out.
  CHECK(has(page, "This page was reached at " + site.base_url() + ", but web.base.url is https://erp.example.com"));
  CHECK(has(page, "web.trusted_proxies"));
  // Saving the form leaves the computed value alone (it has no input name).
  CHECK(site.browser->post("/web/settings", "csrf_token=" + csrf_from(page)).status == 200);
  {
    auto lock = h.host->db().lock();
    auto env = h.host->env();
    CHECK_FALSE(records::param_get(env, "microsoft_outlook_redirect_uri"));
    records::param_set(env, "web.base.url", site.base_url() + "/");
  }
  page = site.browser->get("/web/settings").body;
  CHECK_FALSE(has(page, "This page was reached at"));
  CHECK(has(page, "value=\"" + site.base_url() + "/microsoft_outlook/confirm\""));
}
