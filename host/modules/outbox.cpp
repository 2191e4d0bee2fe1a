#include "modules/outbox.hpp"

#include "core/errors.hpp"
#include "modules/bridge.hpp"

#include <mutex>

namespace juniper::modules {
namespace {

std::mutex g_mu;
MailRelease g_release;

}  // namespace

void install_mail_release(MailRelease release) {
  std::lock_guard g(g_mu);
  g_release = std::move(release);
}

juniper_status mail_release(juniper_ctx* ctx, juniper_str model, int64_t id, int64_t* out_released, juniper_error* err) {
  return guarded(err, [&] {
    if (std::string_view(model.data, model.size) != "ir.mail_server") {
      throw UserError("mail_release: mails wait on an outgoing server (ir.mail_server)");
    }
    MailRelease release;
    {
      std::lock_guard g(g_mu);
      release = g_release;
    }
    if (!release) throw UserError("mail_release: this host has no mail queue");
    const std::int64_t n = release(*ctx->env, id);
    if (out_released != nullptr) *out_released = n;
  });
}

}  // namespace juniper::modules
