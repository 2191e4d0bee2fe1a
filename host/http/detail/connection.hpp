// Internal: one HTTP/1.1 connection (keep-alive loop). Not part of the public API.
#pragma once

#include "http/detail/asio.hpp"
#include "http/detail/server_impl.hpp"
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
  // The body limit of the route the head names (never above opts.max_body).
  std::size_t route_body_limit() const;
  // Checks the announced body against the route limit and reserves its share of
  // max_inflight_body; false when an error response was sent instead.
  bool admit_body();
  void release_body() noexcept;
  void read_body();
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
  std::array<char, 4096> drain_{};
};

}  // namespace juniper::http::detail
