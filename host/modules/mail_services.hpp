// The host table's mail clients (ABI 1.1): SMTP sessions and an IMAP check for module code, on
// the same libcurl clients the queue and the fetcher use. Host-owned: a module holds an opaque
// juniper_smtp* and hands it back to close it.
#pragma once

#include <juniper/sdk/c/juniper_host.h>

namespace juniper::modules {

juniper_status smtp_open(juniper_ctx* ctx, juniper_str endpoint_json, juniper_smtp** out, juniper_error* err);
juniper_status smtp_send(juniper_smtp* session, juniper_str envelope_json, juniper_str data, juniper_sink* out_json,
                         juniper_error* err);
void smtp_close(juniper_smtp* session);
juniper_status imap_check(juniper_ctx* ctx, juniper_str endpoint_json, juniper_sink* out_json, juniper_error* err);

}  // namespace juniper::modules
