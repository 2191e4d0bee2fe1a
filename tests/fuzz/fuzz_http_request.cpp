// Fuzz target: the HTTP request path, from raw bytes: Beast's parser with the server's limits,
// the conversion to a Request, then the router and the form/query/cookie accessors a page uses.
#include "http/detail/asio.hpp"
#include "http/detail/request_from.hpp"
#include "http/router.hpp"

#include <cstdint>

namespace {
juniper::http::Router make_router() {
  using juniper::http::Request;
  using juniper::http::Response;
  juniper::http::Router r;
  r.add("GET", "/web/login", [](const Request& q) { return Response::text(200, q.query_param("redirect").value_or("")); });
  r.add("POST", "/web/login", [](const Request& q) {
    (void)q.form_params();
    return Response::text(200, q.form_param("login").value_or("") + q.cookie("session_id").value_or(""));
  });
  r.add_prefix("GET", "/microsoft_outlook/", [](const Request& q) {
    (void)q.query_params();
    return Response::text(200, q.query_param("state").value_or(""));
  });
  r.set_default_body_limit(256 * 1024);
  r.set_body_limit("POST", "/web/login", 16 * 1024);
  return r;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace d = juniper::http::detail;
  static const juniper::http::Router router = make_router();
  d::bhttp::request_parser<d::bhttp::string_body> parser;
  parser.body_limit(1 << 20);
  parser.header_limit(16 * 1024);
  parser.eager(true);
  d::beast::error_code ec;
  parser.put(d::asio::buffer(data, size), ec);
  if (ec || !parser.is_header_done()) return 0;
  auto& msg = parser.get();
  // The server asks for the route's body limit from the head alone (before request_from).
  const std::string_view target(msg.target().data(), msg.target().size());
  if (!target.empty() && target.front() == '/') {
    (void)router.body_limit(std::string_view(msg.method_string().data(), msg.method_string().size()),
                            juniper::http::url_decode(target.substr(0, target.find('?'))));
  }
  if (const auto req = d::request_from(msg, "127.0.0.1")) {
    (void)router.handle(*req);
    (void)req->header("Host");
  }
  return 0;
}
