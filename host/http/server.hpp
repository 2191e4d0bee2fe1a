// HTTP/1.1 server (Boost.Beast underneath, hidden behind a pimpl).
// Handlers run on the server's I/O threads, so `threads` bounds how many
// requests are handled at the same time.
#pragma once

#include "http/router.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace juniper::http {

namespace detail {
struct ServerImpl;
}

struct ServerOptions {
  std::string host = "127.0.0.1";
  unsigned short port = 8069;  // 0 = let the OS pick a free port, see Server::port()
  unsigned threads = 2;
  // Ceiling for any request body (413 above it). Routes may set smaller limits
  // (Router::set_body_limit / set_default_body_limit); the head is read first and a body
  // over its route's limit is refused before it is buffered.
  std::size_t max_body = 30 * 1024 * 1024;
  // All request bodies being received or handled at once. A request whose body would go
  // over it gets 503 (Retry-After: 1) instead of being buffered: memory stays bounded
  // whatever the number of parallel uploads. A body's share is its Content-Length, or its
  // route's limit when chunked.
  std::size_t max_inflight_body = 64 * 1024 * 1024;
  // Uploads (Router::set_upload) go to unlinked files in spool_dir (empty: the system's
  // temporary folder), never to memory. All uploads being received or handled at once share
  // max_inflight_upload bytes of disk (503, Retry-After: 1, beyond; an upload's share is its
  // Content-Length, or its route's limit when chunked); an upload that would leave the
  // folder's file system with less than min_free_spool is refused with 507, and so is one the
  // disk fills up under. read_timeout is then the longest wait between two reads of the body,
  // and upload_timeout bounds the whole upload.
  std::filesystem::path spool_dir;
  std::size_t max_inflight_upload = std::size_t{1} << 30;
  std::uint64_t min_free_spool = 16 * 1024 * 1024;
  std::chrono::seconds upload_timeout{600};
  std::size_t max_header = 64 * 1024;     // larger request heads get 431
  std::chrono::seconds read_timeout{30};  // per request, also the keep-alive idle time
  std::chrono::seconds stop_grace{10};    // how long stop() waits for requests in flight
  // accept() failing for lack of resources (EMFILE, ENFILE, ENOBUFS...): accepting pauses
  // for accept_backoff_min, doubling up to accept_backoff_max while it keeps failing, and
  // the log gets at most one line per accept_log_interval (with the number of failures).
  std::chrono::milliseconds accept_backoff_min{50};
  std::chrono::milliseconds accept_backoff_max{1000};
  std::chrono::milliseconds accept_log_interval{1000};
  // Error log (handler exceptions, accept failures). Defaults to stderr.
  std::function<void(std::string_view)> log;
};

class Server {
 public:
  explicit Server(ServerOptions opts = {});
  ~Server();  // calls stop()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Atomically replaces the route table; requests already being handled keep
  // the table they started with. Safe to call from any thread, also from a handler.
  void set_router(std::shared_ptr<const Router> router);
  std::shared_ptr<const Router> router() const;

  // Binds, listens and starts the I/O threads. Throws std::runtime_error
  // ("cannot listen on 127.0.0.1:8069: Address already in use") on failure and
  // std::logic_error if already started.
  void start();
  // Port actually bound (useful with port 0); 0 before start().
  unsigned short port() const noexcept;
  bool running() const noexcept;
  // Bytes reserved by request bodies being received or handled now (see max_inflight_body).
  std::size_t inflight_body_bytes() const noexcept;
  // Disk bytes reserved by uploads being received or handled now (see max_inflight_upload).
  std::size_t inflight_upload_bytes() const noexcept;

  // Graceful: stops accepting, closes idle keep-alive connections, lets requests
  // in flight finish (up to stop_grace), then joins the threads. Idempotent.
  // Must not be called from a handler (throws std::logic_error).
  void stop();

 private:
  std::unique_ptr<detail::ServerImpl> impl_;
};

}  // namespace juniper::http
