#include "mail/smtp/wire.hpp"

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <functional>

namespace juniper::mail::smtp {

namespace {
constexpr std::size_t kChunk = 64 * 1024;  // stuffed bytes per write: a few TLS records
}  // namespace

Wire::Wire(CURL* handle, std::chrono::seconds timeout) : handle_(handle), timeout_(timeout) {
  curl_easy_getinfo(handle_, CURLINFO_ACTIVESOCKET, &sock_);
}

bool Wire::wait(short events) {
  const auto deadline = std::chrono::steady_clock::now() + timeout_;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{sock_, events, 0};
    const int n = ::poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), 1000)));
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return false;
  }
}

CURLcode Wire::write(std::string_view bytes) {
  while (!bytes.empty()) {
    std::size_t n = 0;
    const CURLcode c = curl_easy_send(handle_, bytes.data(), bytes.size(), &n);
    if (c == CURLE_AGAIN) {
      if (!wait(POLLOUT)) return CURLE_OPERATION_TIMEDOUT;
      continue;
    }
    if (c != CURLE_OK) return c;
    bytes.remove_prefix(n);
  }
  return CURLE_OK;
}

CURLcode Wire::write_message(std::string_view data, const std::function<bool()>& before_dot) {
  std::string out;
  out.reserve(std::min(data.size(), kChunk) + 64);
  if (data.starts_with('.')) out.push_back('.');
  // Lines starting with '.' are rare: copy whole spans up to the next "\n." (or kChunk bytes;
  // stuffing only looks at the first byte after a line end, so a span may end anywhere).
  std::size_t start = 0;
  while (start < data.size()) {
    const std::size_t dot = data.find("\n.", start);
    const std::size_t end = std::min(dot == std::string_view::npos ? data.size() : dot + 1, start + kChunk - out.size());
    out.append(data.substr(start, end - start));
    if (end == dot + 1) out.push_back('.');
    start = end;
    if (out.size() >= kChunk) {
      if (const CURLcode rc = write(out); rc != CURLE_OK) return rc;
      out.clear();
    }
  }
  if (!data.empty() && !data.ends_with("\r\n")) out += "\r\n";
  if (before_dot) {
    // The body is out; only the dot hands the mail over: the caller may still hold it back.
    if (const CURLcode rc = write(out); rc != CURLE_OK) return rc;
    if (!before_dot()) return CURLE_ABORTED_BY_CALLBACK;
    out.clear();
  }
  out += ".\r\n";
  return write(out);
}

CURLcode Wire::receive() {
  if (pos_ > 0 && pos_ == in_.size()) {
    in_.clear();
    pos_ = 0;
  }
  char buf[16 * 1024];
  for (;;) {
    std::size_t n = 0;
    const CURLcode c = curl_easy_recv(handle_, buf, sizeof buf, &n);
    if (c == CURLE_AGAIN) {
      if (!wait(POLLIN)) return CURLE_OPERATION_TIMEDOUT;
      continue;
    }
    if (c != CURLE_OK) return c;
    if (n == 0) return CURLE_GOT_NOTHING;  // the server closed the connection
    in_.append(buf, n);
    return CURLE_OK;
  }
}

CURLcode Wire::read_line(std::string& line) {
  for (;;) {
    const std::size_t nl = in_.find('\n', pos_);
    if (nl != std::string::npos) {
      if (nl + 1 - pos_ > kMaxLine) return CURLE_WEIRD_SERVER_REPLY;
      line.assign(in_, pos_, nl + 1 - pos_);
      pos_ = nl + 1;
      return CURLE_OK;
    }
    if (in_.size() - pos_ > kMaxLine) return CURLE_WEIRD_SERVER_REPLY;
    if (const CURLcode c = receive(); c != CURLE_OK) return c;
  }
}

bool Wire::closed_while_idle() {
  if (pos_ < in_.size()) return true;
  pollfd p{sock_, POLLIN, 0};
  if (::poll(&p, 1, 0) <= 0) return false;
  // Readable: end of file, a reply nobody asked for, or only TLS records (a session ticket)
  // that OpenSSL consumes without application data.
  char c = 0;
  std::size_t n = 0;
  const CURLcode rc = curl_easy_recv(handle_, &c, 1, &n);
  return rc != CURLE_AGAIN;
}

}  // namespace juniper::mail::smtp
