// Internal: Server's private state. Not part of the public API.
#pragma once

#include "http/detail/asio.hpp"
#include "http/server.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

namespace juniper::http::detail {

class Connection;

struct ServerImpl {
  explicit ServerImpl(ServerOptions o);

  void log(std::string_view msg) const noexcept;
  // false once stop() has begun: the caller must then close the connection itself.
  bool add_connection(const std::shared_ptr<Connection>& c);
  void remove_connection(Connection* c) noexcept;
  bool is_stopping() const;
  void do_accept();
  // Both run on the acceptor's strand.
  void on_accept_error(const beast::error_code& ec);
  void on_accept_ok();
  // false (nothing reserved) when `bytes` more would exceed opts.max_inflight_body.
  bool reserve_body(std::size_t bytes) noexcept;
  void release_body(std::size_t bytes) noexcept;
  // The same for uploads' disk bytes (opts.max_inflight_upload).
  bool reserve_upload(std::size_t bytes) noexcept;
  void release_upload(std::size_t bytes) noexcept;
  std::vector<std::shared_ptr<Connection>> live_connections();

  ServerOptions opts;
  std::filesystem::path spool_dir;  // opts.spool_dir, or the system's temporary folder
  std::shared_ptr<const Router> load_router() const;
  void store_router(std::shared_ptr<const Router> r);
  std::atomic<unsigned short> port{0};
  std::atomic<bool> running{false};
  bool started = false;
  std::mutex lifecycle_mu;  // serialises start() and stop()
  // A plain mutex rather than std::atomic<shared_ptr>: held for a pointer copy only,
  // and unlike libstdc++ 12's lock-bit atomic it is understood by ThreadSanitizer.
  mutable std::mutex router_mu;
  std::shared_ptr<const Router> router;

  // Declared before ioc: connections destroyed along with ioc's pending handlers
  // unregister themselves here, so this must outlive ioc.
  mutable std::mutex mu;
  std::condition_variable cv;  // signalled when conns becomes empty
  bool stopping = false;
  std::unordered_map<Connection*, std::weak_ptr<Connection>> conns;

  asio::io_context ioc;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::optional<tcp::acceptor> acceptor;
  std::vector<std::thread> threads;

  std::atomic<std::size_t> inflight_body{0};
  std::atomic<std::size_t> inflight_upload{0};
  // Accept back-off state, touched only on the acceptor's strand.
  std::optional<asio::steady_timer> accept_timer;
  std::chrono::milliseconds accept_backoff{0};  // 0 = accepting normally
  std::size_t accept_failures = 0;              // since the last log line
  std::chrono::steady_clock::time_point accept_logged{};
};

}  // namespace juniper::http::detail
