#include "modules/outbox.hpp"

#include "core/errors.hpp"
#include "modules/bridge.hpp"
#include "modules/installed.hpp"

namespace juniper::modules {
namespace {

Installed<MailRelease> g_release;

}  // namespace

void install_mail_release(MailRelease release) { g_release.set(std::move(release)); }

juniper_status mail_release(juniper_ctx* ctx, juniper_str model, int64_t id, int64_t* out_released, juniper_error* err) {
  return guarded(err, [&] {
    if (std::string_view(model.data, model.size) != "ir.mail_server") {
      throw UserError("mail_release: mails wait on an outgoing server (ir.mail_server)");
    }
    const MailRelease release = g_release.get();
    if (!release) throw UserError("mail_release: this host has no mail queue");
    const std::int64_t n = release(*ctx->env, id);
    if (out_released != nullptr) *out_released = n;
  });
}

}  // namespace juniper::modules
