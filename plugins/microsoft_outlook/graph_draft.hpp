// Sending a message over Graph's 4 MB request limit: a draft, upload sessions, send.
#pragma once

#include "graph.hpp"

#include <string>

namespace outlook::graph {

// Attachments over this go apart from the MIME (Graph: 3 MB and more through upload sessions).
inline constexpr std::size_t kApartAbove = 3u << 20;
// The MIME the host hands over stays under this (it hands apart the largest attachments until
// it does): in base64 it then fits Graph's 4 MB request.
inline constexpr std::size_t kMessageMax = (3u << 20) - (64u << 10);

// mail.deliver's answer for a message sent as a draft: `payload` lists the attachments the host
// handed apart; `mime_base64` is the rest of the message, as Graph's MIME form wants it.
json deliver_as_draft(sdk::Context& ctx, const json& server, const std::string& mailbox, const std::string& from,
                      const json& payload, const std::string& mime_base64);

}  // namespace outlook::graph
