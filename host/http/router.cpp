#include "http/router.hpp"

#include <algorithm>
#include <stdexcept>

namespace juniper::http {

namespace {

void check(const std::string& method, const std::string& path, const Handler& h) {
  if (!h) throw std::invalid_argument("route " + method + " " + path + ": empty handler");
  if (method.empty()) throw std::invalid_argument("route " + path + ": empty method");
  if (path.empty() || path.front() != '/')
    throw std::invalid_argument("route " + method + " " + path + ": path must start with '/'");
}

void insert(std::map<std::string, Handler>& methods, std::string method, const std::string& path, Handler h) {
  auto [it, inserted] = methods.try_emplace(std::move(method), std::move(h));
  if (!inserted) throw std::logic_error("duplicate route " + it->first + " " + path);
}

std::string allow_header(const std::map<std::string, Handler>& methods) {
  std::vector<std::string> names;
  for (const auto& [m, h] : methods) names.push_back(m);
  if (methods.contains("GET") && !methods.contains("HEAD")) names.emplace_back("HEAD");
  std::sort(names.begin(), names.end());
  std::string out;
  for (const auto& n : names) {
    if (!out.empty()) out += ", ";
    out += n;
  }
  return out;
}

}  // namespace

void Router::add(std::string method, std::string path, Handler h) {
  check(method, path, h);
  insert(exact_[path], std::move(method), path, std::move(h));
}

void Router::add_prefix(std::string method, std::string prefix, Handler h) {
  check(method, prefix, h);
  auto it = std::find_if(prefixes_.begin(), prefixes_.end(), [&](const Prefix& p) { return p.prefix == prefix; });
  if (it == prefixes_.end()) {
    // Keep longest-first order so the first match is the most specific one.
    auto pos = std::find_if(prefixes_.begin(), prefixes_.end(), [&](const Prefix& p) { return p.prefix.size() < prefix.size(); });
    it = prefixes_.insert(pos, Prefix{prefix, {}});
  }
  insert(it->methods, std::move(method), prefix, std::move(h));
}

const Router::Methods* Router::match(const std::string& path) const {
  if (auto it = exact_.find(path); it != exact_.end()) return &it->second;
  for (const auto& p : prefixes_)
    if (path.starts_with(p.prefix)) return &p.methods;
  return nullptr;
}

const std::string* Router::match_key(const std::string& path) const {
  if (auto it = exact_.find(path); it != exact_.end()) return &it->first;
  for (const auto& p : prefixes_)
    if (path.starts_with(p.prefix)) return &p.prefix;
  return nullptr;
}

bool Router::has_route(const std::string& method, const std::string& path) const {
  const auto it = exact_.find(path);
  if (it != exact_.end() && it->second.contains(method)) return true;
  return std::any_of(prefixes_.begin(), prefixes_.end(),
                     [&](const Prefix& p) { return p.prefix == path && p.methods.contains(method); });
}

void Router::set_body_limit(const std::string& method, const std::string& path, std::size_t bytes) {
  if (!has_route(method, path)) throw std::invalid_argument("body limit for unknown route " + method + " " + path);
  body_limits_[{method, path}] = bytes;
}

void Router::set_upload(const std::string& method, const std::string& path, Upload upload) {
  if (!has_route(method, path)) throw std::invalid_argument("upload rule for unknown route " + method + " " + path);
  if (!upload.admit) throw std::invalid_argument("upload rule without an admit function for " + method + " " + path);
  uploads_[{method, path}] = std::move(upload);
}

const Router::Upload* Router::upload(std::string_view method, const std::string& path) const {
  const std::string* key = match_key(path);
  if (!key) return nullptr;
  const auto it = uploads_.find({std::string(method), *key});
  return it == uploads_.end() ? nullptr : &it->second;
}

std::optional<std::size_t> Router::body_limit(std::string_view method, const std::string& path) const {
  if (const std::string* key = match_key(path)) {
    const std::string m(method == "HEAD" ? "GET" : method);
    if (auto it = body_limits_.find({m, *key}); it != body_limits_.end()) return it->second;
  }
  return default_body_limit_;
}

std::optional<Response> Router::dispatch(const Request& req) const {
  const Methods* methods = match(req.path);
  if (!methods) return std::nullopt;
  auto it = methods->find(req.method);
  if (it == methods->end() && req.method == "HEAD") it = methods->find("GET");
  if (it == methods->end()) {
    Response r = Response::text(405, "Method Not Allowed\n");
    r.add_header("Allow", allow_header(*methods));
    return r;
  }
  return it->second(req);
}

Response Router::handle(const Request& req) const {
  if (auto r = dispatch(req)) return std::move(*r);
  return Response::text(404, "Not Found\n");
}

std::size_t Router::size() const noexcept {
  std::size_t n = 0;
  for (const auto& [p, m] : exact_) n += m.size();
  for (const auto& p : prefixes_) n += p.methods.size();
  return n;
}

void Router::swap(Router& other) noexcept {
  exact_.swap(other.exact_);
  prefixes_.swap(other.prefixes_);
  default_body_limit_.swap(other.default_body_limit_);
  body_limits_.swap(other.body_limits_);
  uploads_.swap(other.uploads_);
}

}  // namespace juniper::http
