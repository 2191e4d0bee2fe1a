#include "http/detail/request_from.hpp"

namespace juniper::http::detail {
namespace {
std::string_view sv(beast::string_view s) { return {s.data(), s.size()}; }
}  // namespace

std::optional<Request> request_from(bhttp::request<bhttp::string_body>& msg, std::string remote) {
  auto req = request_head(msg.base(), std::move(remote));
  if (req) req->body = std::move(msg.body());
  return req;
}

std::optional<Request> request_head(const bhttp::request_header<>& msg, std::string remote) {
  Request req;
  req.method = sv(msg.method_string());
  req.target = sv(msg.target());
  if (req.target.empty() || req.target.front() != '/') return std::nullopt;
  const auto q = req.target.find('?');
  req.path = url_decode(std::string_view(req.target).substr(0, q));
  if (q != std::string::npos) req.query = req.target.substr(q + 1);
  if (req.path.find('\0') != std::string::npos) return std::nullopt;
  for (const auto& f : msg) {
    auto [it, inserted] = req.headers.try_emplace(std::string(sv(f.name_string())), sv(f.value()));
    if (!inserted) {
      // RFC 9110 5.3 allows combining; RFC 6265 5.4 joins cookies with "; ".
      it->second += iequals(it->first, "Cookie") ? "; " : ", ";
      it->second += sv(f.value());
    }
  }
  req.remote = std::move(remote);
  return req;
}

}  // namespace juniper::http::detail
