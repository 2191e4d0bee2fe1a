#include "test_util.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <stdexcept>

namespace juniper::http::test {

namespace {

struct CurlGlobal {
  CurlGlobal() { curl_global_init(CURL_GLOBAL_DEFAULT); }
  ~CurlGlobal() { curl_global_cleanup(); }
} curl_global;

size_t on_body(char* p, size_t size, size_t n, void* ud) {
  static_cast<std::string*>(ud)->append(p, size * n);
  return size * n;
}

size_t on_header(char* p, size_t size, size_t n, void* ud) {
  auto* r = static_cast<Reply*>(ud);
  std::string line(p, size * n);
  if (line.rfind("HTTP/", 0) == 0) r->headers.clear();  // a new (possibly interim) response
  auto colon = line.find(':');
  if (colon != std::string::npos) {
    std::string value = line.substr(colon + 1);
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n')) value.pop_back();
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    r->headers.emplace(line.substr(0, colon), value);
  }
  return size * n;
}

}  // namespace

std::optional<std::string> Reply::header(const std::string& name) const {
  auto it = headers.find(name);
  if (it == headers.end()) return std::nullopt;
  return it->second;
}

Client::Client() : h_(curl_easy_init()) {
  if (!h_) throw std::runtime_error("curl_easy_init failed");
}

Client::~Client() { curl_easy_cleanup(h_); }

Reply Client::post(const std::string& url, std::string body, std::vector<std::string> headers) {
  RequestSpec s;
  s.method = "POST";
  s.body = std::move(body);
  s.headers = std::move(headers);
  return request(url, s);
}

Reply Client::request(const std::string& url, const RequestSpec& spec) {
  Reply r;
  curl_easy_reset(h_);  // keeps the connection cache
  curl_easy_setopt(h_, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h_, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(h_, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(h_, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(h_, CURLOPT_HEADERDATA, &r);
  curl_easy_setopt(h_, CURLOPT_TIMEOUT, 20L);
  curl_easy_setopt(h_, CURLOPT_NOSIGNAL, 1L);
  if (spec.head) curl_easy_setopt(h_, CURLOPT_NOBODY, 1L);
  if (spec.body) {
    curl_easy_setopt(h_, CURLOPT_POSTFIELDS, spec.body->data());
    curl_easy_setopt(h_, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(spec.body->size()));
  }
  if (spec.method != "GET" && spec.method != "POST") curl_easy_setopt(h_, CURLOPT_CUSTOMREQUEST, spec.method.c_str());
  if (!spec.request_target.empty()) curl_easy_setopt(h_, CURLOPT_REQUEST_TARGET, spec.request_target.c_str());
  curl_slist* list = nullptr;
  for (const auto& h : spec.headers) list = curl_slist_append(list, h.c_str());
  if (list) curl_easy_setopt(h_, CURLOPT_HTTPHEADER, list);

  r.code = curl_easy_perform(h_);
  curl_easy_getinfo(h_, CURLINFO_RESPONSE_CODE, &r.status);
  curl_easy_getinfo(h_, CURLINFO_NUM_CONNECTS, &r.new_connections);
  curl_easy_getinfo(h_, CURLINFO_TOTAL_TIME, &r.seconds);
  curl_slist_free_all(list);
  return r;
}

std::string base_url(unsigned short port) { return "http://127.0.0.1:" + std::to_string(port); }

std::string raw_exchange(unsigned short port, const std::string& data, int timeout_s) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket failed");
  timeval tv{timeout_s, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    throw std::runtime_error("connect failed");
  }
  size_t sent = 0;
  while (sent < data.size()) {
    ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;  // the server may close early (e.g. after 413)
    sent += static_cast<size_t>(n);
  }
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

}  // namespace juniper::http::test
