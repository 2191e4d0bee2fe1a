#include "test_host.hpp"

#include "http/server.hpp"
#include "records/record_service.hpp"
#include "records/users.hpp"
#include "web/web_app.hpp"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <future>
#include <thread>

using juniper::test::TestHost;

namespace {

struct Reply {
  long status = 0;
  std::string body;
  std::string location;
  std::string content_type;
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
    char* type = nullptr;
    curl_easy_getinfo(curl_, CURLINFO_CONTENT_TYPE, &type);
    if (type != nullptr) r.content_type = type;
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

// An HTTP peer that answers one request only when told to: a module route waits on it.
class HeldPeer {
 public:
  HeldPeer() : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(fd_, 1) == 0);
    socklen_t n = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &n);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] {
      const int c = ::accept(fd_, nullptr, nullptr);
      connected_.set_value();
      gate_.get_future().wait();
      char buf[4096];
      (void)::recv(c, buf, sizeof buf, 0);
      const std::string answer = "HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\nanswered";
      (void)::send(c, answer.data(), answer.size(), 0);
      ::close(c);
    });
  }
  ~HeldPeer() {
    release();
    thread_.join();
    ::close(fd_);
  }
  unsigned short port() const { return port_; }
  std::future<void> connected() { return connected_.get_future(); }
  void release() {
    if (!released_) gate_.set_value();
    released_ = true;
  }

 private:
  int fd_;
  unsigned short port_ = 0;
  std::promise<void> connected_, gate_;
  bool released_ = false;
  std::thread thread_;
};

// The host's pages and module routes served on a port the kernel picks.
struct Site {
  static juniper::http::ServerOptions any_port() {
    juniper::http::ServerOptions o;
    o.port = 0;
    return o;
  }
  explicit Site(TestHost& t) : app(*t.host), server(any_port()) {
    server.set_router(app.build_router());
    server.start();
  }
  juniper::web::WebApp app;
  juniper::http::Server server;
};

}  // namespace

TEST_CASE("a module route flagged network holds no transaction while it waits on its peer", "[http][modules]") {
  TestHost t;
  {
    auto lock = t.host->db().lock();
    t.host->modules().install({"test_base"});
  }
  Site site(t);
  auto& server = site.server;
  HeldPeer peer;
  auto connected = peer.connected();
  auto relay = std::async(std::launch::async, [&] {
    Client c(server.port());
    return c.get("/test_base/relay?url=http%3A%2F%2F127.0.0.1%3A" + std::to_string(peer.port()) + "%2F");
  });
  REQUIRE(connected.wait_for(std::chrono::seconds(30)) == std::future_status::ready);

  // While the route waits on its peer: its own write is already visible, and another writer
  // (here a page's or the mail queue's) commits without waiting for the peer.
  auto writer = std::async(std::launch::async, [&] {
    auto lock = t.host->db().lock();
    auto env = t.host->env();
    juniper::Transaction tr(t.host->db().session());
    const auto started = juniper::records::search(env, "test_base.partner", {{"name", "relay started"}});
    juniper::records::create(env, "test_base.partner", {{"name", "written meanwhile"}});
    tr.commit();
    return started.size();
  });
  const bool wrote = writer.wait_for(std::chrono::seconds(10)) == std::future_status::ready;
  peer.release();
  CHECK(wrote);
  CHECK(writer.get() == 1);
  const auto r = relay.get();
  CHECK(r.status == 200);
  CHECK(r.body == "answered");
  server.stop();
}

TEST_CASE("module routes are served over HTTP with the host's login and access rules", "[http][modules]") {
  TestHost t;
  {
    auto lock = t.host->db().lock();
    t.host->modules().install({"test_base"});
    juniper::records::set_password(t.host->db(), "admin", "correct horse");
  }
  Site site(t);
  auto& server = site.server;
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

  // A page the module describes and the host renders: in the host's look, every value escaped,
  // only links within the site kept, the module's status.
  const auto page = c.get("/test_base/page?say=%3Cscript%3Ealert(1)%3C%2Fscript%3E");
  CHECK(page.status == 409);
  CHECK(page.content_type.starts_with("text/html"));
  CHECK(page.body.find("<h1>Said &lt;b&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;/b&gt;</h1>") != std::string::npos);
  CHECK(page.body.find("<div class=\"alert\" role=\"alert\">") != std::string::npos);
  CHECK(page.body.find("<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>") != std::string::npos);
  CHECK(page.body.find("<script>alert(1)") == std::string::npos);
  CHECK(page.body.find("<a href=\"/web\">Home</a>") != std::string::npos);
  CHECK(page.body.find("evil.example") == std::string::npos);
  const auto broken = c.get("/test_base/page?broken=1");
  CHECK(broken.status == 500);
  CHECK(broken.body.find("Something went wrong") != std::string::npos);
  server.stop();
}
