// The host call message_store (ABI 1.3): a module that fetches mail itself (hook mail.collect)
// hands each message to the mail application's store. The mail application installs the store,
// so the module system does not depend on the layer above it.
#pragma once

#include "records/env.hpp"

#include <juniper/sdk/c/juniper_host.h>

#include <functional>
#include <string_view>

namespace juniper::modules {

// Stores and commits one raw message for an incoming server; false when already stored.
using MessageStore = std::function<bool(records::Env& env, std::int64_t server_id, std::string_view raw)>;
void install_message_store(MessageStore store);

juniper_status message_store(juniper_ctx* ctx, juniper_str model, int64_t id, juniper_str raw, int32_t* out_stored,
                             juniper_error* err);

}  // namespace juniper::modules
