// Internal: one HTTP/1.1 connection (keep-alive loop). Not part of the public API.
#pragma once

#include "http/detail/asio.hpp"
#include "http/detail/server_impl.hpp"
#include "http/detail/spool_body.hpp"
#include "http/request.hpp"

#include <array>
#include <memory>
#include <optional>
#include <string>

namespace juniper::http::detail {

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket&& socket, ServerImpl& server);
  ~Connection();

  void start();
  // Both may be called from any thread; the work is posted to the connection's strand.
  void request_stop();  // close when idle, or after the response being handled
  void force_close();

 private:
  void read_header();
  void on_header(beast::error_code ec);
  // The route table and the decoded path of the request whose head was just read (path empty
  // when the target is not origin-form: answered 400 later), found once for the checks below.
  struct HeadRoute {
    std::shared_ptr<const Router> router;
    std::string path;
  };
  HeadRoute head_route() const;
  // The body limit of the route the head names (never above opts.max_body).
  std::size_t route_body_limit(const HeadRoute& route) const;
  // Checks the announced body against the route limit and reserves its share of
  // max_inflight_body; false when an error response was sent instead.
  bool admit_body(const HeadRoute& route);
  // Releases this request's shares of max_inflight_body and max_inflight_upload.
  void release_body() noexcept;
  // Uploads (Router::set_upload): `upload` when this request's body goes to a spool file,
  // `answered` when it was refused (413, 503 or 507 sent), `memory` for an ordinary body.
  enum class Intake { memory, upload, answered };
  Intake take_upload(const HeadRoute& route);
  bool admitted(const Router::Upload& rule);  // keeps the head for the refuse function
  // nullopt when an upload of `share` bytes may start (and its share is then reserved).
  std::optional<Response> reserve_upload(std::size_t share);
  // The answer to an admitted upload refused with `status` (the route's refuse, else `text`).
  Response upload_refusal(int status, const std::string& why, const char* text);
  const bhttp::request_header<>& head() const;  // of whichever parser holds the request
  bool body_done() const;
  void read_body();
  void read_upload();
  void on_body(beast::error_code ec);
  void on_read_error(beast::error_code ec);
  void handle();
  Response run_handler(const Request& req);
  void send(Response r, bool keep_alive, bool head, unsigned version);
  void on_write(beast::error_code ec, bool close_after);
  void send_error_and_close(int status, const char* text);
  void send_error_and_close(Response r);
  void linger();
  void drain();
  void close();

  ServerImpl& server_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  bhttp::response<bhttp::string_body> res_;  // must live until async_write completes
  std::string remote_;
  bool busy_ = false;  // a request is being handled or answered
  bool stop_requested_ = false;
  bool lingering_ = false;    // drain unread request data before closing (after 413/503)
  std::size_t reserved_ = 0;  // this request's share of ServerImpl::inflight_body
  // An upload: the parser that took over from parser_ once the head was read, its share of
  // ServerImpl::inflight_upload, its deadline and its target (for the log).
  std::optional<bhttp::request_parser<SpoolBody>> upload_;
  std::size_t upload_reserved_ = 0;
  std::chrono::steady_clock::time_point upload_deadline_{};
  std::string upload_target_;
  std::optional<Request> upload_head_;  // what the route's refuse function is shown
  std::function<Response(int, const std::string&, const Request&)> upload_refuse_;
  std::array<char, 4096> drain_{};
};

}  // namespace juniper::http::detail
