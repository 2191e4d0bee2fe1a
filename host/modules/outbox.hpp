// The host call mail_release (ABI 1.4): a module that fixed what an outgoing server's mails were
// waiting for (a reconnect, a grant) lets them go at the next queue run. The mail application
// installs the release, so the module system does not depend on the layer above it.
#pragma once

#include "records/env.hpp"

#include <juniper/sdk/c/juniper_host.h>

#include <cstdint>
#include <functional>

namespace juniper::modules {

// Makes the mails waiting on outgoing server `server_id` due now; answers how many.
using MailRelease = std::function<std::int64_t(records::Env& env, std::int64_t server_id)>;
void install_mail_release(MailRelease release);

juniper_status mail_release(juniper_ctx* ctx, juniper_str model, int64_t id, int64_t* out_released, juniper_error* err);

}  // namespace juniper::modules
