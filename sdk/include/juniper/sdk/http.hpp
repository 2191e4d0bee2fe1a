// Views over the host's HTTP request and response handles, for module routes.
#pragma once

#include <juniper/sdk/context.hpp>

namespace juniper::sdk {

class Request {
 public:
  explicit Request(const juniper_http_request* r) noexcept : r_(r) {}

  std::optional<std::string> query(std::string_view name) const { return get(JUNIPER_REQUEST_QUERY, name); }
  std::optional<std::string> form(std::string_view name) const { return get(JUNIPER_REQUEST_FORM, name); }
  std::optional<std::string> header(std::string_view name) const { return get(JUNIPER_REQUEST_HEADER, name); }
  std::string method() const { return get(JUNIPER_REQUEST_METHOD, {}).value_or(""); }
  std::string path() const { return get(JUNIPER_REQUEST_PATH, {}).value_or(""); }
  std::string body() const { return get(JUNIPER_REQUEST_BODY, {}).value_or(""); }
  std::string full_url() const { return get(JUNIPER_REQUEST_FULL_URL, {}).value_or(""); }

 private:
  std::optional<std::string> get(int32_t what, std::string_view name) const {
    std::string out;
    auto sink = detail::string_sink(out);
    if (host().request_get(r_, what, detail::str(name), &sink) != JUNIPER_OK) return std::nullopt;
    return out;
  }
  const juniper_http_request* r_;
};

class Response {
 public:
  explicit Response(juniper_http_response* r) noexcept : r_(r) {}

  void status(int32_t code) const { host().response_status(r_, code); }
  void header(std::string_view name, std::string_view value) const {
    host().response_header(r_, detail::str(name), detail::str(value));
  }
  void body(std::string_view text) const { host().response_body(r_, detail::str(text)); }
  void html(int32_t code, std::string_view text) const {
    status(code);
    header("Content-Type", "text/html; charset=utf-8");
    body(text);
  }
  void text(int32_t code, std::string_view text) const {
    status(code);
    header("Content-Type", "text/plain; charset=utf-8");
    body(text);
  }
  // A page in the host's look (juniper_host_api.response_page): {"title", "paragraphs",
  // "tone", "links": [{"href", "label"}]}.
  void page(int32_t code, const nlohmann::json& page) const {
    if (!JUNIPER_HOST_HAS(&host(), response_page)) throw std::runtime_error("the host is too old for response_page");
    const std::string text = page.dump();
    host().response_page(r_, code, detail::str(text));
  }
  void redirect(std::string_view location, int32_t code = 303) const {
    status(code);
    header("Location", location);
  }
  juniper_http_response* handle() const noexcept { return r_; }

 private:
  juniper_http_response* r_;
};

}  // namespace juniper::sdk
