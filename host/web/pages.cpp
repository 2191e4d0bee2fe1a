#include "web/pages.hpp"

#include "core/log.hpp"
#include "http/request.hpp"
#include "web/view.hpp"

#include <algorithm>

namespace juniper::web {

std::string login_page(std::string_view csrf_token, std::string_view redirect, std::string_view error) {
  return render("login", {{"title", "Log in"}, {"csrf", csrf_token}, {"redirect", redirect}, {"error", error}});
}

std::string message_page(std::string_view title, std::string_view message, std::string_view back_url) {
  nlohmann::json links = nlohmann::json::array();
  if (!back_url.empty()) links.push_back({{"href", back_url}, {"label", "Go back"}});
  return render("message", {{"title", title}, {"paragraphs", {message}}, {"tone", ""}, {"links", links}});
}

namespace {

// A module's text for a page: a string, at most `max` bytes (a page, not a payload).
std::string page_text(const nlohmann::json& v, std::size_t max) {
  if (!v.is_string()) return "";
  std::string s = v.get<std::string>();
  if (s.size() > max) s.resize(max);
  return s;
}

}  // namespace

std::string module_page(std::string_view module, std::string_view page_json) {
  const auto page = nlohmann::json::parse(page_json, nullptr, false);
  if (!page.is_object()) {
    log::error(std::string(module), "a route answered a page that is not a JSON object");
    return message_page("Something went wrong", "The request could not be completed; the server log has the details.", "/web");
  }
  nlohmann::json paragraphs = nlohmann::json::array();
  for (const auto& p : page.value("paragraphs", nlohmann::json::array())) {
    if (paragraphs.size() < 20) paragraphs.push_back(page_text(p, 4000));
  }
  nlohmann::json links = nlohmann::json::array();
  for (const auto& l : page.value("links", nlohmann::json::array())) {
    if (!l.is_object() || links.size() >= 10) continue;
    const std::string href = page_text(l.value("href", nlohmann::json()), 2000);
    // Only links within this site (the login's redirect check): a module's page never sends the reader elsewhere.
    if (safe_redirect(href) == href)
      links.push_back({{"href", href}, {"label", page_text(l.value("label", nlohmann::json()), 200)}});
  }
  const std::string tone = page_text(page.value("tone", nlohmann::json()), 20);
  return render("message", {{"title", page_text(page.value("title", nlohmann::json()), 200)},
                            {"paragraphs", paragraphs},
                            {"tone", tone == "error" ? "error" : ""},
                            {"links", links}});
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
