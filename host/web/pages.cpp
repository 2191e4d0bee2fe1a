#include "web/pages.hpp"

#include "http/html.hpp"
#include "http/request.hpp"

#include <algorithm>

namespace juniper::web {

using http::escape_html;

std::string page(std::string_view title, std::string_view body_html) {
  std::string out =
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>" + escape_html(title) +
      " - Juniper</title><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
      "<style>body{font-family:sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
      "label{display:block;margin-top:.8rem}input,select{padding:.3rem;min-width:20rem}input[type=checkbox]{min-width:0}"
      ".error{color:#a00;background:#fee;padding:.5rem}.ok{color:#060;background:#efe;padding:.5rem}p.warning{background:#fff4d6;"
      "padding:.5rem}"
      ".badge{display:inline-block;padding:.2rem .6rem;border-radius:.8rem}.badge.ok{background:#2e7d32;color:#fff}"
      ".badge.error{background:#c62828;color:#fff}.badge.warning{background:#f9a825;color:#000}.badge.muted{background:#ddd}"
      "table{border-collapse:collapse;display:block;max-width:100%;overflow-x:auto}"
      "td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}.field{margin:.4rem 0}</style>"
      "</head><body>\n";
  out += body_html;
  // Dates in the reader's time zone (without JavaScript they stay in UTC, saying so).
  out +=
      "\n<script>document.querySelectorAll('time[datetime]').forEach(function (t) {"
      "var d = new Date(t.dateTime); if (isNaN(d)) return; t.title = t.textContent;"
      "t.textContent = d.toLocaleString([], {dateStyle: 'medium', timeStyle: 'short'});});</script>";
  out += "\n</body></html>\n";
  return out;
}

std::string login_page(std::string_view csrf_token, std::string_view redirect, std::string_view error) {
  std::string body = "<h1>Log in</h1>";
  if (!error.empty()) body += "<p class=\"error\" role=\"alert\">" + escape_html(error) + "</p>";
  body +=
      "<form method=\"post\" action=\"/web/login\">"
      "<input type=\"hidden\" name=\"csrf_token\" value=\"" +
      escape_html(csrf_token) +
      "\">"
      "<input type=\"hidden\" name=\"redirect\" value=\"" +
      escape_html(redirect) +
      "\">"
      "<label for=\"login\">Email</label><input id=\"login\" name=\"login\" autocomplete=\"username\" required>"
      "<label for=\"password\">Password</label>"
      "<input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>"
      "<p><button type=\"submit\">Log in</button></p></form>";
  return page("Log in", body);
}

std::string message_page(std::string_view title, std::string_view message, std::string_view back_url) {
  std::string body = "<h1>" + escape_html(title) + "</h1><p>" + escape_html(message) + "</p>";
  if (!back_url.empty()) body += "<p><a href=\"" + escape_html(back_url) + "\">Go back</a></p>";
  return page(title, body);
}

namespace {

constexpr std::size_t kMaxRedirect = 2048;
constexpr int kMaxDecodeLayers = 4;

bool is_control(unsigned char c) { return c < 0x20 || c == 0x7F; }

// One layer (raw or decoded): a local path, nothing a browser would rewrite.
bool local_layer(std::string_view s) {
  if (s.empty() || s.front() != '/' || s.starts_with("//")) return false;
  if (s.find('\\') != std::string_view::npos) return false;
  if (std::any_of(s.begin(), s.end(), [](char c) { return is_control(static_cast<unsigned char>(c)); })) return false;
  const std::string_view path = s.substr(0, s.find_first_of("?#"));
  return path.find(' ') == std::string_view::npos;
}

}  // namespace

std::string safe_redirect(const std::optional<std::string>& target) {
  static const std::string kHome = "/web";
  if (!target || target->empty() || target->size() > kMaxRedirect) return kHome;
  const std::string& raw = *target;
  // The value itself goes into the Location header: printable ASCII only.
  if (std::any_of(raw.begin(), raw.end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return u <= 0x20 || u >= 0x7F;
      })) {
    return kHome;
  }
  std::string layer = raw;
  for (int i = 0; i <= kMaxDecodeLayers; ++i) {
    if (!local_layer(layer)) return kHome;
    std::string next = http::url_decode(layer);
    if (next == layer) return raw;
    layer = std::move(next);
  }
  return kHome;  // still encoded after that many layers: nobody legitimate does that
}

std::string loggable(std::string_view value, std::size_t max) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < value.size() && i < max; ++i) {
    const auto u = static_cast<unsigned char>(value[i]);
    if (is_control(u)) {
      out += u == '\n' ? "\\n" : u == '\r' ? "\\r" : u == '\t' ? "\\t" : std::string{'\\', 'x', kHex[u >> 4], kHex[u & 15]};
    } else {
      out += value[i];
    }
  }
  if (value.size() > max) out += "... (" + std::to_string(value.size()) + " bytes)";
  return out;
}

}  // namespace juniper::web
