#include "web/origin.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <memory>

namespace juniper::web {
namespace {

bool listed(const std::vector<std::string>& list, std::string_view address) {
  return std::find(list.begin(), list.end(), address) != list.end();
}

// The first value of a header that a proxy may have repeated ("https, http" -> "https").
std::string first_of(const std::optional<std::string>& header) {
  if (!header) return {};
  std::string v = header->substr(0, header->find(','));
  v.erase(0, v.find_first_not_of(" \t"));
  v.erase(v.find_last_not_of(" \t") + 1);
  return v;
}

// X-Forwarded-For lists every hop; the nearest address that is not one of our proxies is the
// browser (the ones before it could be made up by the browser itself).
std::string forwarded_client(const std::string& header, const std::vector<std::string>& trusted, const std::string& remote) {
  std::string client = remote;
  std::size_t end = header.size();
  while (end > 0) {
    const std::size_t comma = header.rfind(',', end - 1);
    const std::size_t begin = comma == std::string::npos ? 0 : comma + 1;
    std::string hop = header.substr(begin, end - begin);
    hop.erase(0, hop.find_first_not_of(" \t"));
    hop.erase(hop.find_last_not_of(" \t") + 1);
    if (!hop.empty()) client = hop;
    if (!listed(trusted, hop)) break;
    if (comma == std::string::npos) break;
    end = comma;
  }
  return client;
}

}  // namespace

std::vector<std::string> parse_proxies(std::string_view list) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < list.size()) {
    const std::size_t start = list.find_first_not_of(", \t", i);
    if (start == std::string_view::npos) break;
    const std::size_t stop = list.find_first_of(", \t", start);
    out.emplace_back(list.substr(start, stop == std::string_view::npos ? std::string_view::npos : stop - start));
    i = stop == std::string_view::npos ? list.size() : stop;
  }
  return out;
}

std::string origin_of(std::string_view url) {
  const std::unique_ptr<CURLU, decltype(&curl_url_cleanup)> u(curl_url(), curl_url_cleanup);
  const std::string text(url);
  if (!u || curl_url_set(u.get(), CURLUPART_URL, text.c_str(), 0) != CURLUE_OK) return {};
  const auto part = [&](CURLUPart p, unsigned flags) {
    char* v = nullptr;
    if (curl_url_get(u.get(), p, &v, flags) != CURLUE_OK || v == nullptr) return std::string();
    std::string s(v);
    curl_free(v);
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
  };
  const std::string scheme = part(CURLUPART_SCHEME, 0);
  const std::string host = part(CURLUPART_HOST, 0);
  if (scheme.empty() || host.empty()) return {};
  const std::string port = part(CURLUPART_PORT, CURLU_NO_DEFAULT_PORT);
  return scheme + "://" + host + (port.empty() ? "" : ":" + port);
}

Seen seen(const http::Request& req, const std::vector<std::string>& trusted) {
  Seen s;
  std::string scheme = "http";
  std::string host = req.header("Host").value_or("");
  s.client = req.remote;
  if (listed(trusted, req.remote)) {
    if (const std::string proto = first_of(req.header("X-Forwarded-Proto")); proto == "https" || proto == "http") scheme = proto;
    if (const std::string h = first_of(req.header("X-Forwarded-Host")); !h.empty()) host = h;
    if (const auto xff = req.header("X-Forwarded-For")) s.client = forwarded_client(*xff, trusted, req.remote);
  }
  s.origin = host.empty() ? "" : origin_of(scheme + "://" + host + "/");
  return s;
}

}  // namespace juniper::web
