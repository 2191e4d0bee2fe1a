// Internal: a parsed Beast request as our Request (the one place raw HTTP becomes a Request, so
// the server and the HTTP fuzz target take the same path).
#pragma once

#include "http/detail/asio.hpp"
#include "http/request.hpp"

#include <optional>

namespace juniper::http::detail {

// nullopt: answer 400 (the target is not origin-form, or the decoded path holds a NUL).
// Repeated headers are joined with ", " (Cookie with "; "). The body is moved out of msg.
std::optional<Request> request_from(bhttp::request<bhttp::string_body>& msg, std::string remote);
// The same without a body (what an upload's admit function sees before the body is read).
std::optional<Request> request_head(const bhttp::request_header<>& head, std::string remote);

}  // namespace juniper::http::detail
