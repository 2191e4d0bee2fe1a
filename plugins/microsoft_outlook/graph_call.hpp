// What the Graph sending and fetching code share (not part of the module's interface): one call
// path with the record's token, and Graph's refusal of a read as the fetch's error.
#pragma once

#include "graph.hpp"

#include <string>
#include <string_view>

namespace outlook::graph::detail {

// The Kind of a hook payload for an Outlook server, or nullptr.
const Kind* ours(const json& payload);

// One Graph request with the record's token; a 401 (revoked or expired early) gets one fresh
// token and one more try. With `refused`, an answer the host refuses to take (larger than it
// holds) is not thrown: its reason goes there and the reply's status is 0.
sdk::Context::HttpReply call(sdk::Context& ctx, const Kind& kind, std::int64_t id, const std::string& method,
                             const std::string& url, std::string_view body = {}, const char* content_type = nullptr,
                             std::string* refused = nullptr, const json& extra_headers = json::object());

// Graph's answer to a read, as the fetch's error: throttling and outages are retried at the
// next fetch, the rest needs the administrator (a reconnect only when one helps).
[[noreturn]] void fail_read(sdk::Context& ctx, const Kind& kind, std::int64_t id, const sdk::Context::HttpReply& r,
                            const std::string& mailbox);

}  // namespace outlook::graph::detail
