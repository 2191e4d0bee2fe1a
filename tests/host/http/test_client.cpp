// The HTTP client's errors carry their kind, so a module's caller retries what may work later
// and gives up on what cannot.
#include "http/client.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

using juniper::TemporaryError;
using juniper::UserError;
namespace http = juniper::http;

namespace {

// A loopback port nothing listens on: the kernel's pick, released at once.
unsigned short closed_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t n = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &n);
  ::close(fd);
  return ntohs(a.sin_port);
}

http::ClientRequest get(const std::string& url) {
  http::ClientRequest r;
  r.url = url;
  r.timeout = std::chrono::seconds(5);
  return r;
}

}  // namespace

TEST_CASE("an unreachable peer is a temporary failure", "[http][client]") {
  const std::string url = "http://127.0.0.1:" + std::to_string(closed_port()) + "/token";
  CHECK_THROWS_AS(http::request(get(url)), TemporaryError);
  CHECK_THROWS_WITH(http::request(get(url)), Catch::Contains("cannot reach " + url));
}

TEST_CASE("what no retry can change is refused, not retried", "[http][client]") {
  CHECK_THROWS_AS(http::request(get("ftp://127.0.0.1/file")), UserError);  // not http(s)
  CHECK_THROWS_AS(http::request(get("http://[::1/broken")), UserError);    // malformed
  auto injected = get("http://127.0.0.1:" + std::to_string(closed_port()) + "/");
  injected.headers.emplace_back("X-Note", "a\r\nInjected: yes");
  CHECK_THROWS_AS(http::request(injected), UserError);
  CHECK_THROWS_AS(http::request(get("http://127.0.0.1:1/"), "/nonexistent/ca.pem"), UserError);
  // None of them is mistaken for a temporary failure.
  try {
    http::request(get("ftp://127.0.0.1/file"));
  } catch (const TemporaryError&) {
    FAIL("an unsupported URL was called temporary");
  } catch (const UserError&) {
  }
}
