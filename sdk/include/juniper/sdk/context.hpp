// C++ view of the host services, compiled into each module. Nothing here crosses the boundary
// as a C++ type: every call goes through the C table in juniper_host.h.
#pragma once

#include <juniper/sdk/c/juniper_host.h>
#include <juniper/sdk/c/juniper_mail.h>
#include <juniper/sdk/c/juniper_records.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace juniper::sdk {

// Thrown by module code to refuse with a status; the trampolines turn it into a juniper_status.
class Error : public std::runtime_error {
 public:
  Error(juniper_status code, const std::string& message) : std::runtime_error(message), code_(code) {}
  juniper_status code() const noexcept { return code_; }

 private:
  juniper_status code_;
};

namespace detail {
// This module's copy of the host table (each module library has its own: hidden visibility).
inline const juniper_host_api* g_host = nullptr;

inline juniper_str str(std::string_view s) noexcept { return juniper_str{s.data(), s.size()}; }

inline juniper_sink string_sink(std::string& out) noexcept {
  return juniper_sink{&out,
                      [](void* user, const char* data, size_t size) { static_cast<std::string*>(user)->append(data, size); }};
}

// A juniper_error owned by the module side, for calls into the host.
struct ErrorBox {
  std::string message;
  juniper_error err{sizeof(juniper_error), JUNIPER_OK, string_sink(message)};
  ErrorBox() = default;
  ErrorBox(const ErrorBox&) = delete;
  ErrorBox& operator=(const ErrorBox&) = delete;
};
}  // namespace detail

inline std::string url_encode(std::string_view text) {
  std::string out;
  auto sink = detail::string_sink(out);
  if (detail::g_host == nullptr) throw Error(JUNIPER_ERR_INTERNAL, "module used before declare()");
  detail::g_host->url_encode(detail::str(text), &sink);
  return out;
}

inline const juniper_host_api& host() {
  if (detail::g_host == nullptr) throw Error(JUNIPER_ERR_INTERNAL, "module used before declare()");
  return *detail::g_host;
}

// Runs f and converts any exception into a status plus a message copied by the host.
template <class F>
juniper_status guard(juniper_error* err, F&& f) noexcept {
  auto report = [err](juniper_status code, std::string_view message) {
    if (err != nullptr && detail::g_host != nullptr) {
      detail::g_host->error_set(err, code, detail::str(message));
    }
    return code;
  };
  try {
    f();
    return JUNIPER_OK;
  } catch (const Error& e) {
    return report(e.code(), e.what());
  } catch (const std::exception& e) {
    return report(JUNIPER_ERR_INTERNAL, e.what());
  } catch (...) {
    return report(JUNIPER_ERR_INTERNAL, "unknown error in module");
  }
}

// One call's context: user, transaction. Borrowed; valid for the duration of the callback.
class Context {
 public:
  explicit Context(juniper_ctx* ctx) noexcept : ctx_(ctx) {}
  juniper_ctx* raw() const noexcept { return ctx_; }

  nlohmann::json info() const {
    std::string out;
    auto sink = detail::string_sink(out);
    check(host().ctx_info(ctx_, &sink, nullptr), "ctx_info");
    return nlohmann::json::parse(out);
  }
  bool is_admin() const { return info().value("is_admin", false); }

  void log(int32_t level, std::string_view message) const { host().log(ctx_, level, detail::str(message)); }

  std::optional<std::string> param(std::string_view key) const {
    std::string out;
    auto sink = detail::string_sink(out);
    const juniper_status st = host().param_get(ctx_, detail::str(key), &sink, nullptr);
    if (st == JUNIPER_ERR_NOT_FOUND) return std::nullopt;
    check(st, "param_get");
    return out;
  }
  void set_param(std::string_view key, std::string_view value) const {
    call([&](juniper_error* e) { return host().param_set(ctx_, detail::str(key), detail::str(value), e); });
  }

  // ABI 1.9: a MAC (hex) of `message` under this module's key for `purpose` (juniper_host.h).
  std::string sign(std::string_view purpose, std::string_view message) const {
    require(JUNIPER_HOST_HAS(&host(), sign), "sign");
    std::string out;
    auto sink = detail::string_sink(out);
    call([&](juniper_error* e) { return host().sign(ctx_, detail::str(purpose), detail::str(message), &sink, e); });
    return out;
  }

  nlohmann::json read(std::string_view model, std::int64_t id) const {
    std::string out;
    auto sink = detail::string_sink(out);
    call([&](juniper_error* e) { return host().record_read(ctx_, detail::str(model), id, &sink, e); });
    return nlohmann::json::parse(out);
  }
  std::vector<std::int64_t> search(std::string_view model, const nlohmann::json& filter = nlohmann::json::object()) const {
    std::string out;
    auto sink = detail::string_sink(out);
    const std::string f = filter.dump();
    call([&](juniper_error* e) { return host().record_search(ctx_, detail::str(model), detail::str(f), &sink, e); });
    return nlohmann::json::parse(out).get<std::vector<std::int64_t>>();
  }
  std::int64_t create(std::string_view model, const nlohmann::json& values) const {
    std::int64_t id = 0;
    const std::string v = values.dump();
    call([&](juniper_error* e) { return host().record_create(ctx_, detail::str(model), detail::str(v), &id, e); });
    return id;
  }
  void write(std::string_view model, std::int64_t id, const nlohmann::json& values) const {
    const std::string v = values.dump();
    call([&](juniper_error* e) { return host().record_write(ctx_, detail::str(model), id, detail::str(v), e); });
  }
  void remove(std::string_view model, std::int64_t id) const {
    call([&](juniper_error* e) { return host().record_delete(ctx_, detail::str(model), id, e); });
  }
  // Holds the record until the current transaction ends (one refresh at a time).
  void lock(std::string_view model, std::int64_t id) const {
    require(JUNIPER_HOST_HAS(&host(), record_lock), "record_lock");
    call([&](juniper_error* e) { return host().record_lock(ctx_, detail::str(model), id, e); });
  }
  // One holder at a time across threads and processes, without a transaction held during the
  // work: the token to release(), or nullopt while another holds `name` (ABI 1.2).
  std::optional<std::string> try_claim(std::string_view name, std::chrono::seconds hold) const {
    require(JUNIPER_HOST_HAS(&host(), claim_release), "claim_acquire");
    std::string out;
    auto sink = detail::string_sink(out);
    detail::ErrorBox box;
    const juniper_status st = host().claim_acquire(ctx_, detail::str(name), static_cast<int32_t>(hold.count()), &sink, &box.err);
    if (st == JUNIPER_ERR_CONFLICT) return std::nullopt;
    if (st != JUNIPER_OK) throw Error(st, box.message.empty() ? "host call failed: claim_acquire" : box.message);
    return out;
  }
  void release(std::string_view name, std::string_view token) const noexcept {
    if (JUNIPER_HOST_HAS(&host(), claim_release)) host().claim_release(ctx_, detail::str(name), detail::str(token));
  }
  // The host's IMAP client: login + SELECT INBOX; {"uidvalidity": n, "unseen": [uids]}.
  nlohmann::json imap_check(const nlohmann::json& endpoint) const {
    require(JUNIPER_HOST_HAS(&host(), imap_check), "imap_check");
    std::string out;
    auto sink = detail::string_sink(out);
    const std::string ep = endpoint.dump();
    call([&](juniper_error* e) { return host().imap_check(ctx_, detail::str(ep), &sink, e); });
    return nlohmann::json::parse(out);
  }
  // {"status": 200, "body": "..."}; throws Error(JUNIPER_ERR_TEMPORARY) when unreachable.
  // Any HTTP request (ABI 1.3). Throws Error(JUNIPER_ERR_TEMPORARY) on a transport failure;
  // every HTTP status is an answer.
  struct HttpReply {
    long status = 0;
    nlohmann::json headers;  // lower-case names
    std::string body;
    std::string header(const std::string& name) const {
      return headers.contains(name) && headers[name].is_string() ? headers[name].get<std::string>() : "";
    }
  };
  HttpReply http(std::string_view method, std::string_view url, const nlohmann::json& headers, std::string_view body = {},
                 int32_t timeout_seconds = 30) const {
    require(JUNIPER_HOST_HAS(&host(), http_request), "http_request");
    const std::string rq =
        nlohmann::json{{"method", method}, {"url", url}, {"headers", headers}, {"timeout", timeout_seconds}}.dump();
    std::string meta;
    HttpReply out;
    auto meta_sink = detail::string_sink(meta);
    auto body_sink = detail::string_sink(out.body);
    call([&](juniper_error* e) {
      return host().http_request(ctx_, detail::str(rq), detail::str(body), &meta_sink, &body_sink, e);
    });
    const auto m = nlohmann::json::parse(meta);
    out.status = m.value("status", 0L);
    out.headers = m.value("headers", nlohmann::json::object());
    return out;
  }

  // During mail.collect (ABI 1.3): stores and commits one fetched message; false when it was
  // already stored. Mark it read at the provider only after this returned.
  bool store_message(std::string_view model, std::int64_t id, std::string_view raw) const {
    require(JUNIPER_HOST_HAS(&host(), message_store), "message_store");
    int32_t stored = 0;
    call([&](juniper_error* e) { return host().message_store(ctx_, detail::str(model), id, detail::str(raw), &stored, e); });
    return stored != 0;
  }

  // The mails waiting on an outgoing server for a fix go at the next queue run (ABI 1.4).
  std::int64_t release_waiting_mails(std::string_view model, std::int64_t id) const {
    require(JUNIPER_HOST_HAS(&host(), mail_release), "mail_release");
    int64_t released = 0;
    call([&](juniper_error* e) { return host().mail_release(ctx_, detail::str(model), id, &released, e); });
    return released;
  }

  // During mail.deliver: up to `max` bytes of attachment `index` handed apart, from `offset`
  // (ABI 1.6); empty past the end.
  std::string mail_attachment(std::int64_t mail_id, int index, std::int64_t offset, std::size_t max) const {
    require(JUNIPER_HOST_HAS(&host(), mail_attachment_read), "mail_attachment_read");
    std::string out;
    auto sink = detail::string_sink(out);
    call([&](juniper_error* e) {
      return host().mail_attachment_read(ctx_, mail_id, index, offset,
                                         static_cast<int32_t>(std::min<std::size_t>(max, INT32_MAX)), &sink, e);
    });
    return out;
  }

  nlohmann::json post_form(std::string_view url, const nlohmann::json& form, int32_t timeout_seconds = 10) const {
    require(JUNIPER_HOST_HAS(&host(), http_post_form), "http_post_form");
    std::string out;
    auto sink = detail::string_sink(out);
    const std::string f = form.dump();
    call([&](juniper_error* e) {
      return host().http_post_form(ctx_, detail::str(url), detail::str(f), timeout_seconds, &sink, e);
    });
    return nlohmann::json::parse(out);
  }

 private:
  static void require(bool has, const char* what) {
    if (!has) throw Error(JUNIPER_ERR_UNSUPPORTED, std::string("this juniper is too old for ") + what);
  }
  static void check(juniper_status st, const char* what) {
    if (st != JUNIPER_OK) throw Error(st, std::string("host call failed: ") + what);
  }
  // Calls into the host with a module-owned error and rethrows a failure with its message.
  template <class F>
  static void call(F&& f) {
    detail::ErrorBox box;
    const juniper_status st = f(&box.err);
    if (st != JUNIPER_OK) throw Error(st, box.message.empty() ? "host call failed" : box.message);
  }

  juniper_ctx* ctx_;
  friend class SmtpSession;
};

// The host's SMTP client, one connection reused for every send(); closed (QUIT) on destruction.
class SmtpSession {
 public:
  SmtpSession(const Context& ctx, const nlohmann::json& endpoint) {
    Context::require(JUNIPER_HOST_HAS(&host(), smtp_open), "smtp_open");
    const std::string ep = endpoint.dump();
    Context::call([&](juniper_error* e) { return host().smtp_open(ctx.raw(), detail::str(ep), &session_, e); });
  }
  ~SmtpSession() {
    if (session_ != nullptr) host().smtp_close(session_);
  }
  SmtpSession(const SmtpSession&) = delete;
  SmtpSession& operator=(const SmtpSession&) = delete;

  // {"outcome": "sent" | ..., "transient": bool, "code": 250, "message": "..."}
  nlohmann::json send(const std::string& from, const std::vector<std::string>& to, std::string_view data) {
    const std::string envelope = nlohmann::json{{"from", from}, {"to", to}}.dump();
    std::string out;
    auto sink = detail::string_sink(out);
    Context::call(
        [&](juniper_error* e) { return host().smtp_send(session_, detail::str(envelope), detail::str(data), &sink, e); });
    return nlohmann::json::parse(out);
  }

 private:
  juniper_smtp* session_ = nullptr;
};

}  // namespace juniper::sdk
