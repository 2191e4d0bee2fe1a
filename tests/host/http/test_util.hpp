// Test helpers: a small libcurl client and a raw-socket client.
#pragma once

#include "http/request.hpp"

#include <curl/curl.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace juniper::http::test {

struct Reply {
  CURLcode code = CURLE_OK;
  long status = 0;
  std::string body;
  std::multimap<std::string, std::string, CaseInsensitiveLess> headers;
  long new_connections = -1;  // CURLINFO_NUM_CONNECTS
  double seconds = 0;         // CURLINFO_TOTAL_TIME

  std::optional<std::string> header(const std::string& name) const;
};

struct RequestSpec {
  std::string method = "GET";
  std::optional<std::string> body;
  std::vector<std::string> headers;  // "Name: value"
  std::string request_target;        // overrides the target sent on the wire
  bool head = false;
};

// One curl easy handle, so consecutive requests may reuse the connection.
class Client {
 public:
  Client();
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  Reply get(const std::string& url) { return request(url, {}); }
  Reply post(const std::string& url, std::string body, std::vector<std::string> headers = {});
  Reply request(const std::string& url, const RequestSpec& spec);

 private:
  CURL* h_;
};

std::string base_url(unsigned short port);

// Polls `cond` until it holds or `limit` passes (a condition wait, not a fixed sleep).
template <class F>
bool eventually(F&& cond, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return cond();
}

// Sends raw bytes to 127.0.0.1:port and returns everything received until the
// server closes the connection or `timeout_s` passes.
std::string raw_exchange(unsigned short port, const std::string& data, int timeout_s = 5);

}  // namespace juniper::http::test
