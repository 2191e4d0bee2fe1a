#include "http/detail/connection.hpp"
#include "http/detail/request_from.hpp"

#include <algorithm>
#include <climits>
#include <ctime>

#ifdef __GLIBC__
#include <malloc.h>
#endif

namespace juniper::http::detail {

namespace {

// After a 413 we keep reading (and discarding) for a moment so the client sees
// the response instead of a connection reset caused by unread data.
constexpr auto kLingerTime = std::chrono::seconds(2);
constexpr std::size_t kTrimAfter = 1024 * 1024;
// A request target in the log is cut here: a client must not be able to write 64 kB lines.
constexpr std::size_t kLoggedTarget = 256;

std::string_view sv(beast::string_view s) { return {s.data(), s.size()}; }
beast::string_view bsv(std::string_view s) { return {s.data(), s.size()}; }

bool is_http_parse_error(const beast::error_code& ec) {
  return ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category();
}

// IMF-fixdate, built by hand because strftime's %a/%b follow the global locale.
std::string http_date() {
  static constexpr const char* days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12],
                tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

bool is_token(std::string_view s) {
  constexpr std::string_view extra = "!#$%&'*+-.^_`|~";
  return !s.empty() && std::all_of(s.begin(), s.end(), [&](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || extra.find(c) != std::string_view::npos;
  });
}

// No CR/LF/NUL or other controls: a handler must not be able to split the response.
bool is_field_value(std::string_view s) {
  return std::none_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return (u < 0x20 && c != '\t') || u == 0x7F;
  });
}

bool is_valid(const Response& r) {
  if (r.status < 200 || r.status > 599) return false;
  return std::all_of(r.headers.begin(), r.headers.end(),
                     [](const auto& h) { return is_token(h.first) && is_field_value(h.second); });
}

// Headers the server manages itself; a handler's copy is ignored.
bool is_managed(std::string_view name) {
  return iequals(name, "Content-Length") || iequals(name, "Transfer-Encoding") || iequals(name, "Connection") ||
         iequals(name, "Server") || iequals(name, "Date");
}

Response internal_error() { return Response::text(500, "Internal Server Error\n"); }

}  // namespace

Connection::Connection(tcp::socket&& socket, ServerImpl& server) : server_(server), stream_(std::move(socket)) {
  beast::error_code ec;
  auto ep = stream_.socket().remote_endpoint(ec);
  if (!ec) remote_ = ep.address().to_string();
  // Small responses on keep-alive connections must not wait for delayed ACKs.
  stream_.socket().set_option(tcp::no_delay(true), ec);
}

Connection::~Connection() {
  release_body();
  server_.remove_connection(this);
}

void Connection::start() {
  if (!server_.add_connection(shared_from_this())) {
    close();  // stop() has begun; nothing else references this connection yet
    return;
  }
  asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read_header(); });
}

void Connection::request_stop() {
  asio::post(stream_.get_executor(), [self = shared_from_this()] {
    self->stop_requested_ = true;
    if (!self->busy_) self->close();
  });
}

void Connection::force_close() {
  asio::post(stream_.get_executor(), [self = shared_from_this()] { self->close(); });
}

void Connection::close() {
  release_body();
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
  stream_.socket().close(ec);
}

void Connection::read_header() {
  if (stop_requested_) return close();
  parser_.emplace();
  parser_->body_limit(server_.opts.max_body);
  parser_->header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(server_.opts.max_header, UINT32_MAX)));
  stream_.expires_after(server_.opts.read_timeout);
  bhttp::async_read_header(stream_, buffer_, *parser_,
                           [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_header(ec); });
}

std::size_t Connection::route_body_limit() const {
  const auto& msg = parser_->get();
  const std::string_view target = sv(msg.target());
  std::size_t limit = server_.opts.max_body;
  if (target.empty() || target.front() != '/') return limit;  // answered 400 later
  const std::string path = url_decode(target.substr(0, target.find('?')));
  if (const auto route = server_.load_router()->body_limit(sv(msg.method_string()), path)) limit = std::min(limit, *route);
  return limit;
}

bool Connection::admit_body() {
  if (parser_->is_done()) return true;  // no body
  const std::size_t limit = route_body_limit();
  const auto length = parser_->content_length();
  if (length && *length > limit) {
    send_error_and_close(413, "Payload Too Large\n");
    return false;
  }
  parser_->body_limit(limit);  // also bounds a chunked body as it arrives
  const std::size_t share = length ? static_cast<std::size_t>(*length) : limit;
  if (!server_.reserve_body(share)) {
    Response r = Response::text(503, "Service Unavailable: too many uploads at once, try again\n");
    r.add_header("Retry-After", "1");
    send_error_and_close(std::move(r));
    return false;
  }
  reserved_ = share;
  return true;
}

void Connection::release_body() noexcept {
  if (reserved_ == 0) return;
  server_.release_body(reserved_);
#ifdef __GLIBC__
  // glibc keeps freed large blocks in its arenas; after a big body, give them back so a
  // burst of uploads does not leave the process holding their peak for good.
  if (reserved_ >= kTrimAfter) malloc_trim(0);
#endif
  reserved_ = 0;
}

void Connection::on_header(beast::error_code ec) {
  if (ec) return on_read_error(ec);
  if (!admit_body()) return;
  const auto& msg = parser_->get();
  if (!parser_->is_done() && msg.version() >= 11 && iequals(sv(msg[bhttp::field::expect]), "100-continue")) {
    // The body fits the limit (checked with the head), so invite the client to send it.
    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    stream_.expires_after(server_.opts.read_timeout);
    asio::async_write(stream_, asio::buffer(kContinue.data(), kContinue.size()),
                      [self = shared_from_this()](beast::error_code e, std::size_t) {
                        if (e) return self->close();
                        self->read_body();
                      });
    return;
  }
  read_body();
}

void Connection::read_body() {
  if (parser_->is_done()) return handle();
  stream_.expires_after(server_.opts.read_timeout);
  bhttp::async_read(stream_, buffer_, *parser_,
                    [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_body(ec); });
}

void Connection::on_body(beast::error_code ec) {
  if (ec) return on_read_error(ec);
  handle();
}

void Connection::on_read_error(beast::error_code ec) {
  if (stop_requested_) return close();
  if (ec == bhttp::error::body_limit) return send_error_and_close(413, "Payload Too Large\n");
  if (ec == bhttp::error::header_limit) return send_error_and_close(431, "Request Header Fields Too Large\n");
  // end_of_stream (client closed an idle connection), partial_message, timeout,
  // reset, cancellation: nobody is left to answer.
  if (ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message || !is_http_parse_error(ec)) return close();
  send_error_and_close(400, "Bad Request\n");
}

void Connection::handle() {
  busy_ = true;
  auto& msg = parser_->get();
  const bool keep_alive = msg.keep_alive();
  const bool head = msg.method() == bhttp::verb::head;
  const unsigned version = msg.version();
  Response res;
  try {
    auto req = request_from(msg, remote_);
    parser_.reset();  // don't hold the body twice while the handler runs
    if (!req) {
      release_body();
      return send(Response::text(400, "Bad Request\n"), false, head, version);
    }
    res = run_handler(*req);
  } catch (const std::exception& e) {
    server_.log(std::string("request setup failed: ") + e.what());
    res = internal_error();
  }
  release_body();  // the body went with the Request
  send(std::move(res), keep_alive, head, version);
}

Response Connection::run_handler(const Request& req) {
  // The snapshot keeps this request on one route table even if it is swapped meanwhile.
  const std::shared_ptr<const Router> router = server_.load_router();
  try {
    return router->handle(req);
  } catch (const std::exception& e) {
    server_.log("handler for " + req.method.substr(0, 16) + " " + req.target.substr(0, kLoggedTarget) + " threw: " + e.what());
  } catch (...) {
    server_.log("handler for " + req.method.substr(0, 16) + " " + req.target.substr(0, kLoggedTarget) +
                " threw a non-standard exception");
  }
  return internal_error();
}

void Connection::send(Response r, bool keep_alive, bool head, unsigned version) {
  busy_ = true;
  if (!is_valid(r)) {
    server_.log("handler returned an invalid response (status " + std::to_string(r.status) +
                " or a malformed header); sending 500");
    r = internal_error();
  }
  res_ = {};
  res_.version(version == 10 ? 10 : 11);
  res_.result(static_cast<unsigned>(r.status));
  for (const auto& [name, value] : r.headers)
    if (!is_managed(name)) res_.insert(bsv(name), bsv(value));

  auto set_default = [&](std::string_view name, std::string_view value) {
    if (res_.find(bsv(name)) == res_.end()) res_.set(bsv(name), bsv(value));
  };
  set_default("X-Content-Type-Options", "nosniff");
  set_default("X-Frame-Options", "DENY");
  set_default("Referrer-Policy", "same-origin");
  set_default("Cache-Control", "no-store");
  if (!r.body.empty()) set_default("Content-Type", "text/plain; charset=utf-8");
  res_.set(bhttp::field::server, "juniper");
  res_.set(bhttp::field::date, http_date());

  const bool no_body = r.status == 204 || r.status == 304;
  const std::size_t length = no_body ? 0 : r.body.size();
  if (!head && !no_body) res_.body() = std::move(r.body);
  if (!no_body) res_.content_length(length);  // for HEAD: the length a GET would have
  res_.keep_alive(keep_alive && !stop_requested_ && !server_.is_stopping());

  stream_.expires_after(server_.opts.read_timeout);
  bhttp::async_write(stream_, res_, [self = shared_from_this(), close = !res_.keep_alive()](beast::error_code ec, std::size_t) {
    self->on_write(ec, close);
  });
}

void Connection::on_write(beast::error_code ec, bool close_after) {
  busy_ = false;
  res_ = {};
  if (ec) return close();
  if (close_after || stop_requested_) {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    if (lingering_) return linger();
    return close();
  }
  read_header();
}

void Connection::send_error_and_close(int status, const char* text) { send_error_and_close(Response::text(status, text)); }

void Connection::send_error_and_close(Response r) {
  parser_.reset();
  release_body();
  // The client may still be sending a body we refused: read and drop it for a moment so
  // it sees the answer rather than a reset.
  lingering_ = r.status == 413 || r.status == 503;
  send(std::move(r), false, false, 11);
}

void Connection::linger() {
  stream_.expires_after(kLingerTime);
  drain();
}

void Connection::drain() {
  stream_.async_read_some(asio::buffer(drain_), [self = shared_from_this()](beast::error_code ec, std::size_t) {
    if (ec || self->stop_requested_) return self->close();
    self->drain();
  });
}

}  // namespace juniper::http::detail
