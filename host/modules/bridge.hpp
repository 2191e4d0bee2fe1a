// The host side of the C boundary: the juniper_host_api table handed to modules, the concrete
// types behind the SDK's opaque handles, and the calls from host into module code.
#pragma once

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

// Throws UserError "<module>: <message>" when a module call failed (status != OK).
void throw_if_failed(juniper_status st, const ErrorBox& box, std::string_view module, std::string_view what);

}  // namespace juniper::modules
