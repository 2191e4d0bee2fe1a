#include "modules/inbox.hpp"

#include "core/errors.hpp"
#include "modules/bridge.hpp"
#include "modules/installed.hpp"

namespace juniper::modules {
namespace {

Installed<MessageStore> g_store;

}  // namespace

void install_message_store(MessageStore store) { g_store.set(std::move(store)); }

juniper_status message_store(juniper_ctx* ctx, juniper_str model, int64_t id, juniper_str raw, int32_t* out_stored,
                             juniper_error* err) {
  return guarded(err, [&] {
    if (std::string_view(model.data, model.size) != "fetchmail.server") {
      throw UserError("message_store: messages belong to an incoming server (fetchmail.server)");
    }
    const MessageStore store = g_store.get();
    if (!store) throw UserError("message_store: this host does not fetch mail here (call it during mail.collect)");
    const bool stored = store(*ctx->env, id, std::string_view(raw.data, raw.size));
    if (out_stored != nullptr) *out_stored = stored ? 1 : 0;
  });
}

}  // namespace juniper::modules
