// Microsoft Graph for Outlook servers whose transport is "graph" (tenants where Authenticated
// SMTP or IMAP is disabled): sending (POST .../sendMail, the message as MIME) and fetching
// (unread Inbox messages, their MIME through $value, marked read through $batch once stored).
#pragma once

#include "oauth.hpp"

#include <juniper/sdk/context.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace outlook::graph {

namespace sdk = juniper::sdk;
using json = nlohmann::json;

// Graph takes at most 4 MB per request (the base64 MIME included).
inline constexpr std::size_t kMaxRequest = 4u << 20;

// Standard base64 without line breaks (Graph's MIME form and contentBytes).
std::string base64(std::string_view data);

// Whether an outgoing server record sends through Graph.
bool selected(const json& server);

// "https://graph.microsoft.com/v1.0/" or the microsoft_outlook.graph_endpoint parameter.
std::string endpoint(sdk::Context& ctx);

// What a Graph answer means for the mail (outcome/reason/retry_after of the mail.deliver
// hook). `mailbox`: the server's account; `from`: the sender the mail asked for; `app`: the
// token is the application's own (a 403 then means an application permission or policy).
json outcome_of(long status, const std::string& body, const std::string& retry_after, const std::string& mailbox,
                const std::string& from, bool app = false);

// The mailbox's part of Graph URLs: "me/" for the signed-in person's own mailbox,
// "users/<mailbox>/" for a shared mailbox and for the application's token (which has no "me").
std::string mailbox_path(const Kind& kind, const json& server, const std::string& mailbox);

// Hooks mail.deliver, mail.collect and mail.check (std::nullopt: not an Outlook server on Graph).
std::optional<json> deliver(sdk::Context& ctx, const json& payload);
std::optional<json> collect(sdk::Context& ctx, const json& payload);
std::optional<json> check(sdk::Context& ctx, const json& payload);

}  // namespace outlook::graph
