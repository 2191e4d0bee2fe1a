#include "http/detail/connection.hpp"
#include "http/detail/request_from.hpp"

#include <sys/statvfs.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <ctime>
#include <limits>
#include <utility>

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

constexpr const char* kNoRoom = "the server's disk has no room for this upload";
constexpr const char* kTooLarge = "the upload is larger than this form takes";
constexpr const char* kBusy = "too many uploads are under way; send it again in a moment";

// A write into a spool file that failed for lack of room.
bool is_disk_full(const beast::error_code& ec) {
  if (ec.category() != beast::generic_category()) return false;
  return ec.value() == ENOSPC || ec.value() == EDQUOT || ec.value() == EFBIG;
}

// Free bytes for an unprivileged writer on the file system holding `dir` (0 when unknown).
std::uint64_t free_bytes(const std::filesystem::path& dir) {
  struct statvfs st {};
  if (::statvfs(dir.c_str(), &st) != 0) return 0;
  return static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
}

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

// Leaves the parsers alone: a read may still be pending on one of them (a stop request arrives
// between reads); it completes with an error, and the connection goes with its last reference.
void Connection::close() {
  release_body();
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
  stream_.socket().close(ec);
}

void Connection::read_header() {
  if (stop_requested_) return close();
  upload_head_.reset();
  upload_refuse_ = nullptr;
  parser_.emplace();
  // No limit while the head is read (Beast would refuse an upload's Content-Length there):
  // admit_body and take_upload set the route's limit once the head has named the route. Not
  // boost::none: Boost 1.74 compares lengths with the optional, and every length is above none.
  parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
  parser_->header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(server_.opts.max_header, UINT32_MAX)));
  stream_.expires_after(server_.opts.read_timeout);
  bhttp::async_read_header(stream_, buffer_, *parser_,
                           [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_header(ec); });
}

Connection::HeadRoute Connection::head_route() const {
  const std::string_view target = sv(parser_->get().target());
  if (target.empty() || target.front() != '/') return {server_.load_router(), {}};
  return {server_.load_router(), url_decode(target.substr(0, target.find('?')))};
}

std::size_t Connection::route_body_limit(const HeadRoute& route) const {
  std::size_t limit = server_.opts.max_body;
  if (route.path.empty()) return limit;
  if (const auto found = route.router->body_limit(sv(parser_->get().method_string()), route.path))
    limit = std::min(limit, *found);
  return limit;
}

bool Connection::admit_body(const HeadRoute& route) {
  if (parser_->is_done()) return true;  // no body
  const std::size_t limit = route_body_limit(route);
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
  if (upload_reserved_ != 0) server_.release_upload(std::exchange(upload_reserved_, 0));
  if (reserved_ == 0) return;
  server_.release_body(reserved_);
#ifdef __GLIBC__
  // glibc keeps freed large blocks in its arenas; after a big body, give them back so a
  // burst of uploads does not leave the process holding their peak for good.
  if (reserved_ >= kTrimAfter) malloc_trim(0);
#endif
  reserved_ = 0;
}

Connection::Intake Connection::take_upload(const HeadRoute& route) {
  if (parser_->is_done() || route.path.empty()) return Intake::memory;  // no body, or answered 400 later
  const auto& msg = parser_->get();
  const Router::Upload* rule = route.router->upload(sv(msg.method_string()), route.path);
  if (!rule || !admitted(*rule)) return Intake::memory;
  upload_refuse_ = rule->refuse;
  upload_target_ = std::string(sv(msg.target()).substr(0, kLoggedTarget));
  const auto length = parser_->content_length();
  if (length && *length > rule->limit) {
    send_error_and_close(upload_refusal(413, kTooLarge, "Payload Too Large\n"));
    return Intake::answered;
  }
  const std::size_t limit = rule->limit;
  if (auto refusal = reserve_upload(length ? static_cast<std::size_t>(*length) : limit)) {
    send_error_and_close(std::move(*refusal));
    return Intake::answered;
  }
  try {
    upload_.emplace(std::move(*parser_), Spooled::file_in(server_.spool_dir));
  } catch (const std::exception& e) {
    server_.log("an upload to " + upload_target_ + " was refused: " + e.what());
    send_error_and_close(upload_refusal(507, kNoRoom, "Insufficient Storage\n"));
    return Intake::answered;
  }
  parser_.reset();
  upload_->body_limit(limit);
  upload_deadline_ = std::chrono::steady_clock::now() + server_.opts.upload_timeout;
  return Intake::upload;
}

bool Connection::admitted(const Router::Upload& rule) {
  try {
    upload_head_ = request_head(parser_->get().base(), remote_);
    return upload_head_ && rule.admit(*upload_head_);
  } catch (const std::exception& e) {
    server_.log(std::string("an upload's admit function threw: ") + e.what());
  } catch (...) {
    server_.log("an upload's admit function threw a non-standard exception");
  }
  return false;
}

std::optional<Response> Connection::reserve_upload(std::size_t share) {
  if (!server_.reserve_upload(share)) {
    Response r = upload_refusal(503, kBusy, "Service Unavailable: too many uploads at once, try again\n");
    r.set_header("Retry-After", "1");
    return r;
  }
  upload_reserved_ = share;
  const std::uint64_t room = free_bytes(server_.spool_dir);
  if (room < server_.opts.min_free_spool || room - server_.opts.min_free_spool < share)
    return upload_refusal(507, kNoRoom, "Insufficient Storage: the server's disk has no room for this upload\n");
  return std::nullopt;
}

Response Connection::upload_refusal(int status, const std::string& why, const char* text) {
  if (upload_refuse_ && upload_head_) {
    try {
      Response r = upload_refuse_(status, why, *upload_head_);
      r.status = status;
      return r;
    } catch (const std::exception& e) {
      server_.log("the refusal page of " + upload_target_ + " failed: " + e.what());
    } catch (...) {
      server_.log("the refusal page of " + upload_target_ + " failed");
    }
  }
  return Response::text(status, text);
}

const bhttp::request_header<>& Connection::head() const { return upload_ ? upload_->get().base() : parser_->get().base(); }

bool Connection::body_done() const { return upload_ ? upload_->is_done() : parser_->is_done(); }

void Connection::on_header(beast::error_code ec) {
  if (ec) return on_read_error(ec);
  const HeadRoute route = head_route();
  const Intake intake = take_upload(route);
  if (intake == Intake::answered) return;
  if (intake == Intake::memory && !admit_body(route)) return;
  const auto& msg = head();
  if (!body_done() && msg.version() >= 11 && iequals(sv(msg[bhttp::field::expect]), "100-continue")) {
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
  if (upload_) return read_upload();
  if (parser_->is_done()) return handle();
  stream_.expires_after(server_.opts.read_timeout);
  bhttp::async_read(stream_, buffer_, *parser_,
                    [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_body(ec); });
}

// An upload is read a piece at a time: read_timeout bounds each wait, not the whole body.
void Connection::read_upload() {
  if (upload_->is_done()) return handle();
  const auto left = upload_deadline_ - std::chrono::steady_clock::now();
  if (left <= std::chrono::steady_clock::duration::zero()) return close();  // too slow: as a read timeout
  stream_.expires_after(std::min<std::chrono::steady_clock::duration>(server_.opts.read_timeout, left));
  bhttp::async_read_some(stream_, buffer_, *upload_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
    if (ec) return self->on_read_error(ec);
    self->read_upload();
  });
}

void Connection::on_body(beast::error_code ec) {
  if (ec) return on_read_error(ec);
  handle();
}

void Connection::on_read_error(beast::error_code ec) {
  if (stop_requested_) return close();
  if (upload_ && ec == bhttp::error::body_limit)
    return send_error_and_close(upload_refusal(413, kTooLarge, "Payload Too Large\n"));
  if (ec == bhttp::error::body_limit) return send_error_and_close(413, "Payload Too Large\n");
  if (ec == bhttp::error::header_limit) return send_error_and_close(431, "Request Header Fields Too Large\n");
  if (upload_ && is_disk_full(ec)) {
    server_.log("an upload to " + upload_target_ + " was dropped: " + ec.message() + " in " + server_.spool_dir.string());
    return send_error_and_close(
        upload_refusal(507, kNoRoom, "Insufficient Storage: the server's disk has no room for this upload\n"));
  }
  // end_of_stream (client closed an idle connection), partial_message, timeout,
  // reset, cancellation: nobody is left to answer.
  if (ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message || !is_http_parse_error(ec)) return close();
  send_error_and_close(400, "Bad Request\n");
}

void Connection::handle() {
  busy_ = true;
  const auto& msg = head();
  const bool keep_alive = upload_ ? upload_->keep_alive() : parser_->keep_alive();
  const bool is_head = msg.method() == bhttp::verb::head;
  const unsigned version = msg.version();
  Response res;
  try {
    std::optional<Request> req;
    if (upload_) {
      req = std::move(upload_head_);  // built from this head when the upload was admitted
      req->body_file = std::make_shared<const Spooled>(std::move(upload_->get().body()));
      upload_.reset();
    } else {
      req = request_from(parser_->get(), remote_);
      parser_.reset();  // don't hold the body twice while the handler runs
    }
    if (!req) {
      release_body();
      return send(Response::text(400, "Bad Request\n"), false, is_head, version);
    }
    res = run_handler(*req);
  } catch (const std::exception& e) {
    server_.log(std::string("request setup failed: ") + e.what());
    res = internal_error();
  }
  release_body();  // the body went with the Request
  send(std::move(res), keep_alive, is_head, version);
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
  upload_.reset();
  release_body();
  // The client may still be sending a body we refused: read and drop it for a moment so
  // it sees the answer rather than a reset.
  lingering_ = r.status == 413 || r.status == 503 || r.status == 507;
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
