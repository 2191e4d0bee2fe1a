#include "test_host.hpp"

#include "http/server.hpp"
#include "records/users.hpp"
#include "web/web_app.hpp"

#include <curl/curl.h>
#include <catch2/catch.hpp>

using juniper::test::TestHost;

namespace {

struct Reply {
  long status = 0;
  std::string body;
  std::string location;
};

// A tiny HTTP client with a cookie jar, like a browser session.
class Client {
 public:
  explicit Client(unsigned short port) : base_("http://127.0.0.1:" + std::to_string(port)), curl_(curl_easy_init()) {
    curl_easy_setopt(curl_, CURLOPT_COOKIEFILE, "");
    curl_easy_setopt(
        curl_, CURLOPT_WRITEFUNCTION, +[](char* p, size_t s, size_t n, void* u) {
          static_cast<std::string*>(u)->append(p, s * n);
          return s * n;
        });
  }
  ~Client() { curl_easy_cleanup(curl_); }
  Reply get(const std::string& path) { return run(path, nullptr); }
  Reply post(const std::string& path, const std::string& form) { return run(path, &form); }

 private:
  Reply run(const std::string& path, const std::string* form) {
    Reply r;
    const std::string url = base_ + path;
    curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &r.body);
    if (form != nullptr) {
      curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, form->c_str());
    } else {
      curl_easy_setopt(curl_, CURLOPT_HTTPGET, 1L);
    }
    REQUIRE(curl_easy_perform(curl_) == CURLE_OK);
    curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &r.status);
    char* loc = nullptr;
    curl_easy_getinfo(curl_, CURLINFO_REDIRECT_URL, &loc);
    if (loc != nullptr) r.location = loc;
    return r;
  }
  std::string base_;
  CURL* curl_;
};

std::string csrf_from(const std::string& html) {
  const std::string marker = "name=\"csrf_token\" value=\"";
  const auto p = html.find(marker);
  if (p == std::string::npos) return {};
  return html.substr(p + marker.size(), html.find('"', p + marker.size()) - p - marker.size());
}

}  // namespace

TEST_CASE("module routes are served over HTTP with the host's login and access rules", "[http][modules]") {
  TestHost t;
  {
    auto lock = t.host->db().lock();
    t.host->modules().install({"test_base"});
    juniper::records::set_password(t.host->db(), "admin", "correct horse");
  }
  juniper::web::WebApp app(*t.host);
  juniper::http::ServerOptions o;
  o.port = 0;
  juniper::http::Server server(o);
  server.set_router(app.build_router());
  server.start();
  Client c(server.port());

  const auto health = c.get("/web/health");
  CHECK(health.status == 200);
  const auto h = nlohmann::json::parse(health.body);
  CHECK(h["status"] == "ok");
  CHECK(h["modules"] == nlohmann::json::array({"test_base"}));

  const auto hello = c.get("/test_base/hello?name=Ann%20Lee");
  CHECK(hello.status == 200);
  CHECK(hello.body == "hello Ann Lee");

  auto admin = c.get("/test_base/admin");
  CHECK(admin.status == 303);
  CHECK(admin.location.find("/web/login?redirect=%2Ftest_base%2Fadmin") != std::string::npos);

  const auto form = c.get("/web/login");
  const std::string csrf = csrf_from(form.body);
  REQUIRE_FALSE(csrf.empty());
  CHECK(c.post("/web/login", "login=admin&password=wrong&csrf_token=" + csrf).status == 401);
  CHECK(c.post("/web/login", "login=admin&password=correct+horse&csrf_token=bad").status == 403);
  const auto ok = c.post("/web/login", "login=admin&password=correct+horse&redirect=%2Ftest_base%2Fadmin&csrf_token=" + csrf);
  CHECK(ok.status == 303);
  CHECK(ok.location.ends_with("/test_base/admin"));
  admin = c.get("/test_base/admin");
  CHECK(admin.status == 200);
  CHECK(admin.body == "<p>admin page for admin</p>");
  server.stop();
}
