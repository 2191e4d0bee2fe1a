#include "http/server.hpp"

#include "http/detail/connection.hpp"
#include "http/detail/server_impl.hpp"

#include <algorithm>
#include <future>
#include <iostream>
#include <stdexcept>

namespace juniper::http {

namespace asio = detail::asio;
namespace beast = detail::beast;
using detail::Connection;
using detail::tcp;

namespace {
// Connections left after stop_grace get closed; this bounds the wait for that.
constexpr auto kForceCloseWait = std::chrono::seconds(2);
}  // namespace

// ---- ServerImpl ----

namespace detail {

ServerImpl::ServerImpl(ServerOptions o) : opts(std::move(o)) {
  if (!opts.log) opts.log = [](std::string_view msg) { std::cerr << "juniper http: " << msg << '\n'; };
  if (opts.threads == 0) opts.threads = 1;
  std::error_code ec;
  spool_dir = opts.spool_dir.empty() ? std::filesystem::temp_directory_path(ec) : opts.spool_dir;
  if (spool_dir.empty()) spool_dir = "/tmp";  // TMPDIR names no folder
  router = std::make_shared<const Router>();
}

std::shared_ptr<const Router> ServerImpl::load_router() const {
  std::lock_guard lock(router_mu);
  return router;
}

void ServerImpl::store_router(std::shared_ptr<const Router> r) {
  std::lock_guard lock(router_mu);
  router.swap(r);
  // the old table (in r) is released outside the lock when it goes out of scope
}

void ServerImpl::log(std::string_view msg) const noexcept {
  try {
    opts.log(msg);
  } catch (...) {
    // A failing logger must not take the server down.
  }
}

bool ServerImpl::add_connection(const std::shared_ptr<Connection>& c) {
  std::lock_guard lock(mu);
  if (stopping) return false;
  conns.emplace(c.get(), c);
  return true;
}

void ServerImpl::remove_connection(Connection* c) noexcept {
  std::lock_guard lock(mu);
  conns.erase(c);
  if (conns.empty()) cv.notify_all();
}

bool ServerImpl::is_stopping() const {
  std::lock_guard lock(mu);
  return stopping;
}

void ServerImpl::do_accept() {
  acceptor->async_accept(asio::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor->is_open()) return;
    if (ec) return on_accept_error(ec);
    on_accept_ok();
    std::make_shared<Connection>(std::move(socket), *this)->start();
    do_accept();
  });
}

void ServerImpl::on_accept_error(const beast::error_code& ec) {
  // A client that gave up before we accepted it: nothing is short, go on at once.
  if (ec == asio::error::connection_aborted) return do_accept();
  // EMFILE and friends: retrying at once would spin (and log) until a descriptor is
  // freed, so pause, longer while it lasts. The pending connection waits in the backlog.
  accept_backoff = accept_backoff.count() == 0 ? opts.accept_backoff_min : std::min(accept_backoff * 2, opts.accept_backoff_max);
  ++accept_failures;
  const auto now = std::chrono::steady_clock::now();
  if (now - accept_logged >= opts.accept_log_interval) {
    log("accept failed: " + ec.message() + " (" + std::to_string(accept_failures) +
        " time(s) since the last report); pausing accept for " + std::to_string(accept_backoff.count()) + " ms");
    accept_failures = 0;
    accept_logged = now;
  }
  if (!accept_timer) accept_timer.emplace(acceptor->get_executor());
  accept_timer->expires_after(accept_backoff);
  accept_timer->async_wait([this](beast::error_code e) {
    if (e || !acceptor->is_open()) return;
    do_accept();
  });
}

void ServerImpl::on_accept_ok() {
  if (accept_backoff.count() == 0) return;
  accept_backoff = std::chrono::milliseconds(0);
  const auto now = std::chrono::steady_clock::now();
  if (now - accept_logged >= opts.accept_log_interval) {
    log("accept resumed (" + std::to_string(accept_failures) + " failure(s) since the last report)");
    accept_logged = now;
  }
  accept_failures = 0;
}

namespace {
// Adds `bytes` to `used` unless that would pass `max`.
bool reserve(std::atomic<std::size_t>& used, std::size_t max, std::size_t bytes) noexcept {
  std::size_t cur = used.load();
  do {
    if (bytes > max || cur > max - bytes) return false;
  } while (!used.compare_exchange_weak(cur, cur + bytes));
  return true;
}
}  // namespace

bool ServerImpl::reserve_body(std::size_t bytes) noexcept { return reserve(inflight_body, opts.max_inflight_body, bytes); }
void ServerImpl::release_body(std::size_t bytes) noexcept { inflight_body.fetch_sub(bytes); }
bool ServerImpl::reserve_upload(std::size_t bytes) noexcept { return reserve(inflight_upload, opts.max_inflight_upload, bytes); }
void ServerImpl::release_upload(std::size_t bytes) noexcept { inflight_upload.fetch_sub(bytes); }

std::vector<std::shared_ptr<Connection>> ServerImpl::live_connections() {
  std::vector<std::shared_ptr<Connection>> out;
  std::lock_guard lock(mu);
  for (auto& [p, w] : conns)
    if (auto c = w.lock()) out.push_back(std::move(c));
  return out;
}

}  // namespace detail

// ---- Server ----

Server::Server(ServerOptions opts) : impl_(std::make_unique<detail::ServerImpl>(std::move(opts))) {}

Server::~Server() {
  try {
    stop();
  } catch (const std::exception& e) {
    impl_->log(std::string("stop failed in destructor: ") + e.what());
  }
}

void Server::set_router(std::shared_ptr<const Router> router) {
  if (!router) router = std::make_shared<const Router>();
  impl_->store_router(std::move(router));
}

std::shared_ptr<const Router> Server::router() const { return impl_->load_router(); }

unsigned short Server::port() const noexcept { return impl_->port.load(); }

bool Server::running() const noexcept { return impl_->running.load(); }

std::size_t Server::inflight_body_bytes() const noexcept { return impl_->inflight_body.load(); }
std::size_t Server::inflight_upload_bytes() const noexcept { return impl_->inflight_upload.load(); }

void Server::start() {
  detail::ServerImpl& d = *impl_;
  std::lock_guard lifecycle(d.lifecycle_mu);
  if (d.started) throw std::logic_error("juniper::http::Server::start called twice");

  const std::string where = d.opts.host + ":" + std::to_string(d.opts.port);
  beast::error_code ec;
  tcp::resolver resolver(d.ioc);
  auto results =
      resolver.resolve(d.opts.host, std::to_string(d.opts.port), tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec) throw std::runtime_error("cannot listen on " + where + ": " + ec.message());
  if (results.empty()) throw std::runtime_error("cannot listen on " + where + ": host not found");
  const tcp::endpoint ep = results.begin()->endpoint();

  d.acceptor.emplace(asio::make_strand(d.ioc));
  auto fail = [&](const beast::error_code& e) {
    d.acceptor.reset();
    throw std::runtime_error("cannot listen on " + where + ": " + e.message());
  };
  if (d.acceptor->open(ep.protocol(), ec); ec) fail(ec);
  // Lets a restarted host rebind while old connections sit in TIME_WAIT; on Linux
  // it does not allow two listeners on one port, so "in use" is still reported.
  if (d.acceptor->set_option(asio::socket_base::reuse_address(true), ec); ec) fail(ec);
  if (d.acceptor->bind(ep, ec); ec) fail(ec);
  if (d.acceptor->listen(asio::socket_base::max_listen_connections, ec); ec) fail(ec);
  d.port = d.acceptor->local_endpoint(ec).port();
  if (ec) fail(ec);

  d.started = true;
  d.running = true;
  d.work.emplace(asio::make_work_guard(d.ioc));
  d.do_accept();
  d.threads.reserve(d.opts.threads);
  for (unsigned i = 0; i < d.opts.threads; ++i) {
    d.threads.emplace_back([&d] {
      for (;;) {
        try {
          d.ioc.run();
          return;
        } catch (const std::exception& e) {
          // Handlers catch their own errors; this is a last resort.
          d.log(std::string("I/O thread error: ") + e.what());
        }
      }
    });
  }
}

void Server::stop() {
  detail::ServerImpl& d = *impl_;
  const auto self = std::this_thread::get_id();
  if (std::any_of(d.threads.begin(), d.threads.end(), [&](const std::thread& t) { return t.get_id() == self; }))
    throw std::logic_error("juniper::http::Server::stop called from a server thread");

  std::lock_guard lifecycle(d.lifecycle_mu);
  if (!d.running) return;

  {
    std::lock_guard lock(d.mu);
    d.stopping = true;  // from now on new connections are closed right away
  }

  // 1. Stop accepting. The acceptor lives on its strand, so close it there.
  auto closed = std::make_shared<std::promise<void>>();
  auto closed_f = closed->get_future();
  asio::post(d.acceptor->get_executor(), [&d, closed] {
    beast::error_code ec;
    d.acceptor->close(ec);
    if (d.accept_timer) d.accept_timer->cancel();  // a paused accept must not restart
    closed->set_value();
  });
  closed_f.wait_for(d.opts.stop_grace);

  // 2. Idle connections close now, busy ones after writing their response.
  for (auto& c : d.live_connections()) c->request_stop();
  {
    std::unique_lock lock(d.mu);
    d.cv.wait_for(lock, d.opts.stop_grace, [&] { return d.conns.empty(); });
  }

  // 3. Whatever is still open after the grace period gets closed hard.
  for (auto& c : d.live_connections()) c->force_close();
  d.work.reset();
  {
    std::unique_lock lock(d.mu);
    d.cv.wait_for(lock, kForceCloseWait, [&] { return d.conns.empty(); });
  }
  d.ioc.stop();
  for (auto& t : d.threads) t.join();  // waits for handlers still running
  d.threads.clear();
  beast::error_code ec;
  d.acceptor->close(ec);  // no thread runs any more, so no strand needed
  d.running = false;
}

}  // namespace juniper::http
