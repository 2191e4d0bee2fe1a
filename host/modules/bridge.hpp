// The host side of the C boundary: the juniper_host_api table handed to modules, the concrete
// types behind the SDK's opaque handles, and the calls from host into module code.
#pragma once

#include "core/errors.hpp"
#include "records/env.hpp"

#include <juniper/sdk/c/juniper_module.h>

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

// Concrete types behind the SDK's opaque handles (host-only).
struct juniper_ctx {
  juniper::records::Env* env;
  std::string module;  // whose code runs
};
struct juniper_reply {
  std::string json;
};
struct juniper_http_request {
  // Answers one of the JUNIPER_REQUEST_* questions; nullopt: absent.
  std::function<std::optional<std::string>(int32_t what, std::string_view name)> get;
};
struct juniper_http_response {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string page_json;  // response_page: the web layer renders it in place of `body`
};

namespace juniper::modules {

const juniper_host_api* host_api();

// A juniper_error owned by the host for one call into a module.
struct ErrorBox {
  std::string message;
  juniper_error err;
  ErrorBox();
  ErrorBox(const ErrorBox&) = delete;
  ErrorBox& operator=(const ErrorBox&) = delete;
};

inline juniper_str str(std::string_view s) noexcept { return juniper_str{s.data(), s.size()}; }
inline std::string_view view(juniper_str s) noexcept { return s.data ? std::string_view(s.data, s.size) : std::string_view(); }

// Every entry point of the host table turns host exceptions into a status plus message:
// nothing throws into module code.
template <class F>
juniper_status guarded(juniper_error* err, F&& f) noexcept {
  auto fail = [err](juniper_status code, std::string_view msg) {
    host_api()->error_set(err, code, str(msg));
    return code;
  };
  try {
    f();
    return JUNIPER_OK;
  } catch (const UserError& e) {
    return fail(JUNIPER_ERR_INVALID, e.what());
  } catch (const TemporaryError& e) {
    return fail(JUNIPER_ERR_TEMPORARY, e.what());
  } catch (const nlohmann::json::exception& e) {
    return fail(JUNIPER_ERR_INVALID, std::string("invalid JSON: ") + e.what());
  } catch (const std::exception& e) {
    return fail(JUNIPER_ERR_INTERNAL, e.what());
  } catch (...) {
    return fail(JUNIPER_ERR_INTERNAL, "unknown host error");
  }
}

inline void to_sink(juniper_sink* out, std::string_view v) {
  if (out != nullptr && out->write != nullptr) out->write(out->user, v.data(), v.size());
}

// The descriptor a module library returned, as this host knows it: an older (smaller) one is
// zero-extended, a bigger one (built against a newer SDK) or one too small to hold the v1.0
// members is refused with a UserError naming the module.
juniper_module_descriptor module_descriptor(const juniper_module_descriptor* d, std::string_view module);

// Throws UserError "<module>: <message>" when a module call failed (status != OK).
void throw_if_failed(juniper_status st, const ErrorBox& box, std::string_view module, std::string_view what);

}  // namespace juniper::modules
