// Method + path routing. A Router is filled once and then only read, so any number
// of threads may dispatch concurrently. To change routes at run time (module
// install/uninstall), build a new Router and install it with Server::set_router.
#pragma once

#include "http/request.hpp"

#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace juniper::http {

using Handler = std::function<Response(const Request&)>;

class Router {
 public:
  // Exact path match. Throws std::invalid_argument on an empty handler or a path
  // not starting with '/', std::logic_error if method+path is already taken.
  void add(std::string method, std::string path, Handler h);
  // Matches every path starting with prefix (e.g. "/static/"); the longest
  // matching prefix wins and exact routes win over prefixes.
  void add_prefix(std::string method, std::string prefix, Handler h);

  // Body limits: the server reads a request's head, asks body_limit() and refuses a larger
  // body with 413 before buffering it. A route without its own limit gets the router's
  // default; without a default, the server's ServerOptions::max_body (always the ceiling).
  void set_default_body_limit(std::size_t bytes) { default_body_limit_ = bytes; }
  // For a route added before (exact path or prefix, as given to add/add_prefix).
  // Throws std::invalid_argument when that route does not exist.
  void set_body_limit(const std::string& method, const std::string& path, std::size_t bytes);
  // The limit for a request (HEAD as GET; unknown paths get the default).
  std::optional<std::size_t> body_limit(std::string_view method, const std::string& path) const;

  // Uploads: a request to this route that `admit` accepts may send up to `limit` bytes, and its
  // body is written to an unlinked file (ServerOptions::spool_dir, Request::body_file) instead
  // of memory. `admit` sees the request's head only (no body yet), on an I/O thread, before a
  // byte of the body is read: it must be quick and must not throw (a throw counts as "no"). A
  // request it refuses gets the route's ordinary body limit, in memory.
  struct Upload {
    std::size_t limit = 0;
    std::function<bool(const Request& head)> admit;
    // Optional: the answer to an admitted upload the server refuses (413 over `limit`, 503 when
    // too many uploads are under way, 507 when the disk has no room), e.g. the form's page with
    // `why` next to it. Without it, or when it throws, a plain-text answer. The status and a
    // Retry-After for 503 are the server's.
    std::function<Response(int status, const std::string& why, const Request& head)> refuse;
  };
  // For a route added before (exact path or prefix). Throws std::invalid_argument when that
  // route does not exist or `admit` is empty.
  void set_upload(const std::string& method, const std::string& path, Upload upload);
  // The upload rule for a request, or nullptr.
  const Upload* upload(std::string_view method, const std::string& path) const;

  // nullopt when no route knows the path; 405 (with Allow) when the path is known
  // but not for this method. HEAD falls back to GET. Handler exceptions propagate.
  std::optional<Response> dispatch(const Request& req) const;
  // dispatch() with nullopt turned into a plain 404.
  Response handle(const Request& req) const;

  std::size_t size() const noexcept;
  void swap(Router& other) noexcept;

 private:
  using Methods = std::map<std::string, Handler>;
  struct Prefix {
    std::string prefix;
    Methods methods;
  };
  bool has_route(const std::string& method, const std::string& path) const;
  const Methods* match(const std::string& path) const;
  // The key the matching route was registered under ("" if none).
  const std::string* match_key(const std::string& path) const;

  std::map<std::string, Methods> exact_;
  std::vector<Prefix> prefixes_;  // longest first
  std::optional<std::size_t> default_body_limit_;
  std::map<std::pair<std::string, std::string>, std::size_t> body_limits_;  // (method, route key)
  std::map<std::pair<std::string, std::string>, Upload> uploads_;           // (method, route key)
};

}  // namespace juniper::http
