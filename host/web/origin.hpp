// Where a request came from as the browser saw it. Behind a reverse proxy the connection is the
// proxy's: its X-Forwarded-Proto, X-Forwarded-Host and X-Forwarded-For are believed only when the
// connection comes from an address listed in the parameter web.trusted_proxies (anyone else
// could send them).
#pragma once

#include "http/request.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace juniper::web {

// "10.0.0.2, 10.0.0.3" -> the addresses (commas or spaces between them).
std::vector<std::string> parse_proxies(std::string_view list);

struct Seen {
  std::string origin;  // "https://erp.example.com" (scheme and host as the browser used them)
  std::string client;  // the browser's address (the proxy's own when it is not trusted)
};
// `serve` speaks plain HTTP: without a trusted proxy the scheme is http.
Seen seen(const http::Request& req, const std::vector<std::string>& trusted);

// A URL's origin, normalised by libcurl: lower-case scheme and host, the port only when it is
// not the scheme's default. "" when the URL cannot be parsed.
std::string origin_of(std::string_view url);

}  // namespace juniper::web
