// Plain request/response types shared by the server, the router and the pages.
// Deliberately free of Beast/Asio so handlers compile fast and can be unit-tested
// by building a Request by hand.
#pragma once

#include <chrono>
#include "core/spooled.hpp"

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace juniper::http {

// ASCII case-insensitive ordering: HTTP header names are case-insensitive.
struct CaseInsensitiveLess {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const noexcept;
};

bool iequals(std::string_view a, std::string_view b) noexcept;

// Percent-encodes everything except RFC 3986 unreserved characters (curl_easy_escape).
std::string url_encode(std::string_view s);
// Percent-decodes (curl_easy_unescape). With plus_as_space, '+' becomes ' ' first,
// as in application/x-www-form-urlencoded; "%2B" still decodes to '+'.
std::string url_decode(std::string_view s, bool plus_as_space = false);
// Splits "a=1&b=x+y" into decoded pairs, in order; empty segments are skipped,
// a key without '=' gets an empty value.
std::vector<std::pair<std::string, std::string>> parse_urlencoded(std::string_view s);

using HeaderMap = std::map<std::string, std::string, CaseInsensitiveLess>;

struct Request {
  std::string method;  // "GET", "POST", ... as received (case-sensitive per RFC 9110)
  std::string target;  // raw request-target, e.g. "/web/login?redirect=%2F"
  std::string path;    // percent-decoded path part of target
  std::string query;   // raw query string (without '?')
  HeaderMap headers;   // repeated headers joined with ", " (Cookie with "; ")
  std::string body;
  // An upload (Router::set_upload): the body is in this unlinked file and `body` is empty.
  std::shared_ptr<const Spooled> body_file;
  std::string remote;  // peer IP address

  // First value wins for repeated keys. The query and the form are parsed once, on first
  // use, and kept (a big form costs one decode per request, not one per field looked up);
  // they are parsed again only if `query`, `body` or Content-Type were replaced meanwhile. Like the rest of
  // a Request, not for use from several threads at once.
  std::optional<std::string> query_param(std::string_view name) const;
  const std::vector<std::pair<std::string, std::string>>& query_params() const;
  // Only for x-www-form-urlencoded bodies (or when Content-Type is absent).
  std::optional<std::string> form_param(std::string_view name) const;
  const std::vector<std::pair<std::string, std::string>>& form_params() const;
  std::optional<std::string> cookie(std::string_view name) const;
  std::optional<std::string> header(std::string_view name) const;
  // How many times the body was decoded as a form (tests: "parsed once").
  unsigned form_parse_count() const noexcept { return form_.parses; }

 private:
  struct Parsed {
    const char* data = nullptr;  // what the cache was built from: the buffer and its size,
    std::size_t size = 0;
    std::string small;  // and its text when short (a reassigned short body is seen)
    std::string type;   // the Content-Type it was parsed under (forms)
    bool valid = false;
    unsigned parses = 0;
    std::vector<std::pair<std::string, std::string>> fields;
  };
  mutable Parsed query_;
  mutable Parsed form_;
};

struct CookieOptions {
  std::string path = "/";
  bool http_only = true;
  bool secure = false;
  std::string same_site = "Lax";  // empty = omit the attribute
  std::optional<std::chrono::seconds> max_age;
};

// "name=value; Path=/; HttpOnly; SameSite=Lax" — the value of a Set-Cookie header.
// Throws std::invalid_argument if name or value contain characters not allowed
// in a cookie (so no header injection through cookie values).
std::string make_set_cookie(std::string_view name, std::string_view value, const CookieOptions& opts = {});

struct Response {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  static Response html(int status, std::string body);
  static Response json(int status, std::string body);
  static Response text(int status, std::string body);
  // 303 by default: after a POST the browser follows with a GET.
  static Response redirect(std::string location, int status = 303);

  // Appends a header (several headers with the same name are allowed).
  void add_header(std::string name, std::string value);
  // Replaces every header of that name (case-insensitive) with one value.
  void set_header(std::string name, std::string value);
  std::optional<std::string> header(std::string_view name) const;

  void set_cookie(std::string_view name, std::string_view value, const CookieOptions& opts = {});
  // Adds a ready-made Set-Cookie value, e.g. from SessionStore::session_cookie().
  void set_cookie(std::string set_cookie_value);
};

}  // namespace juniper::http
