#include "http/request.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <climits>
#include <memory>
#include <stdexcept>

namespace juniper::http {

namespace {

char lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// RFC 6265 cookie-octet.
bool is_cookie_octet(unsigned char c) noexcept {
  return c == 0x21 || (c >= 0x23 && c <= 0x2B) || (c >= 0x2D && c <= 0x3A) || (c >= 0x3C && c <= 0x5B) ||
         (c >= 0x5D && c <= 0x7E);
}

// RFC 9110 token (cookie names, header names).
bool is_token(std::string_view s) noexcept {
  if (s.empty()) return false;
  constexpr std::string_view extra = "!#$%&'*+-.^_`|~";
  return std::all_of(s.begin(), s.end(), [&](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || extra.find(c) != std::string_view::npos;
  });
}

bool is_attr_safe(std::string_view s) noexcept {
  return std::none_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7F || c == ';';
  });
}

std::optional<std::string> first_of(const std::vector<std::pair<std::string, std::string>>& v, std::string_view name) {
  for (const auto& [k, val] : v)
    if (k == name) return val;
  return std::nullopt;
}

}  // namespace

bool CaseInsensitiveLess::operator()(std::string_view a, std::string_view b) const noexcept {
  return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) { return lower(x) < lower(y); });
}

bool iequals(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return lower(x) == lower(y); });
}

std::string url_encode(std::string_view s) {
  if (s.empty()) return {};
  if (s.size() > static_cast<std::size_t>(INT_MAX)) throw std::length_error("url_encode: input too long");
  // The handle argument is ignored by libcurl >= 7.82 and unused for conversions before.
  std::unique_ptr<char, decltype(&curl_free)> out(curl_easy_escape(nullptr, s.data(), static_cast<int>(s.size())), &curl_free);
  if (!out) throw std::bad_alloc();
  return std::string(out.get());
}

std::string url_decode(std::string_view s, bool plus_as_space) {
  if (s.empty()) return {};
  if (s.size() > static_cast<std::size_t>(INT_MAX)) throw std::length_error("url_decode: input too long");
  std::string in(s);
  if (plus_as_space) std::replace(in.begin(), in.end(), '+', ' ');
  // Nothing escaped: most paths. Not calling libcurl for them keeps it unloaded in a serve that
  // only answers health checks and plain pages (core/curl_loader.cpp).
  if (in.find('%') == std::string::npos) return in;
  int outlen = 0;
  std::unique_ptr<char, decltype(&curl_free)> out(curl_easy_unescape(nullptr, in.data(), static_cast<int>(in.size()), &outlen),
                                                  &curl_free);
  if (!out) throw std::bad_alloc();
  return std::string(out.get(), static_cast<std::size_t>(outlen));
}

std::vector<std::pair<std::string, std::string>> parse_urlencoded(std::string_view s) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!s.empty()) {
    auto amp = s.find('&');
    std::string_view part = s.substr(0, amp);
    s = amp == std::string_view::npos ? std::string_view{} : s.substr(amp + 1);
    if (part.empty()) continue;
    auto eq = part.find('=');
    if (eq == std::string_view::npos)
      out.emplace_back(url_decode(part, true), std::string{});
    else
      out.emplace_back(url_decode(part.substr(0, eq), true), url_decode(part.substr(eq + 1), true));
  }
  return out;
}

// ---- Request ----

std::optional<std::string> Request::query_param(std::string_view name) const { return first_of(query_params(), name); }

namespace {
// Texts up to this size are also compared by content (a body rewritten in place keeps its
// buffer and size); longer ones by buffer and size only, to keep one parse cheap.
constexpr std::size_t kCompareUpTo = 64 * 1024;

// The cached parse of `text`, redone when the string was replaced since.
template <class Parse>
const std::vector<std::pair<std::string, std::string>>& cached(auto& slot, const std::string& text, std::string_view type,
                                                               Parse&& parse) {
  const bool small = text.size() <= kCompareUpTo;
  if (!slot.valid || slot.data != text.data() || slot.size != text.size() || slot.type != type || (small && slot.small != text)) {
    slot.fields = parse();
    slot.data = text.data();
    slot.size = text.size();
    slot.small = small ? text : std::string();
    slot.type = type;
    slot.valid = true;
    ++slot.parses;
  }
  return slot.fields;
}
}  // namespace

const std::vector<std::pair<std::string, std::string>>& Request::query_params() const {
  return cached(query_, query, {}, [&] { return parse_urlencoded(query); });
}

std::optional<std::string> Request::form_param(std::string_view name) const { return first_of(form_params(), name); }

const std::vector<std::pair<std::string, std::string>>& Request::form_params() const {
  const auto ct = header("Content-Type");
  return cached(form_, body, ct ? std::string_view(*ct) : "\n(none)", [&]() -> std::vector<std::pair<std::string, std::string>> {
    // Never parse multipart or JSON bodies as if they were form data.
    if (ct) {
      std::string_view type = trim(std::string_view(*ct).substr(0, ct->find(';')));
      if (!iequals(type, "application/x-www-form-urlencoded")) return {};
    }
    return parse_urlencoded(body);
  });
}

std::optional<std::string> Request::cookie(std::string_view name) const {
  auto it = headers.find(std::string_view("Cookie"));
  if (it == headers.end()) return std::nullopt;
  std::string_view s = it->second;
  while (!s.empty()) {
    auto semi = s.find(';');
    std::string_view part = trim(s.substr(0, semi));
    s = semi == std::string_view::npos ? std::string_view{} : s.substr(semi + 1);
    auto eq = part.find('=');
    if (eq == std::string_view::npos) continue;
    if (trim(part.substr(0, eq)) != name) continue;
    std::string_view v = trim(part.substr(eq + 1));
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
    return std::string(v);
  }
  return std::nullopt;
}

std::optional<std::string> Request::header(std::string_view name) const {
  auto it = headers.find(name);
  if (it == headers.end()) return std::nullopt;
  return it->second;
}

// ---- cookies ----

std::string make_set_cookie(std::string_view name, std::string_view value, const CookieOptions& opts) {
  if (!is_token(name)) throw std::invalid_argument("invalid cookie name");
  if (!std::all_of(value.begin(), value.end(), [](char c) { return is_cookie_octet(static_cast<unsigned char>(c)); }))
    throw std::invalid_argument("invalid cookie value");
  if (!is_attr_safe(opts.path) || !is_attr_safe(opts.same_site)) throw std::invalid_argument("invalid cookie attribute");
  std::string out;
  out.append(name).append("=").append(value);
  if (!opts.path.empty()) out.append("; Path=").append(opts.path);
  if (opts.max_age) out.append("; Max-Age=").append(std::to_string(opts.max_age->count()));
  if (opts.http_only) out.append("; HttpOnly");
  if (opts.secure) out.append("; Secure");
  if (!opts.same_site.empty()) out.append("; SameSite=").append(opts.same_site);
  return out;
}

// ---- Response ----

namespace {
Response with_type(int status, std::string body, const char* type) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  r.headers.emplace_back("Content-Type", type);
  return r;
}
}  // namespace

Response Response::html(int status, std::string body) { return with_type(status, std::move(body), "text/html; charset=utf-8"); }

Response Response::json(int status, std::string body) { return with_type(status, std::move(body), "application/json"); }

Response Response::text(int status, std::string body) { return with_type(status, std::move(body), "text/plain; charset=utf-8"); }

Response Response::redirect(std::string location, int status) {
  Response r;
  r.status = status;
  r.headers.emplace_back("Location", std::move(location));
  return r;
}

void Response::add_header(std::string name, std::string value) { headers.emplace_back(std::move(name), std::move(value)); }

void Response::set_header(std::string name, std::string value) {
  std::erase_if(headers, [&](const auto& h) { return iequals(h.first, name); });
  headers.emplace_back(std::move(name), std::move(value));
}

std::optional<std::string> Response::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (iequals(k, name)) return v;
  return std::nullopt;
}

void Response::set_cookie(std::string_view name, std::string_view value, const CookieOptions& opts) {
  headers.emplace_back("Set-Cookie", make_set_cookie(name, value, opts));
}

void Response::set_cookie(std::string set_cookie_value) { headers.emplace_back("Set-Cookie", std::move(set_cookie_value)); }

}  // namespace juniper::http
