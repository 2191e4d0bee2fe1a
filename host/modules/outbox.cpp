#include "modules/outbox.hpp"

#include "core/errors.hpp"
#include "modules/bridge.hpp"
#include "modules/installed.hpp"

#include <algorithm>
#include <map>
#include <mutex>

namespace juniper::modules {
namespace {

Installed<MailRelease> g_release;

// The attachments lent per mail id (a mail is delivered by one lane at a time).
std::mutex g_loans_mu;
std::map<std::int64_t, std::vector<std::string_view>> g_loans;

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

AttachmentLoan::AttachmentLoan(std::int64_t mail_id, std::vector<std::string_view> attachments) : mail_id_(mail_id) {
  std::lock_guard g(g_loans_mu);
  g_loans[mail_id] = std::move(attachments);
}

AttachmentLoan::~AttachmentLoan() {
  std::lock_guard g(g_loans_mu);
  g_loans.erase(mail_id_);
}

juniper_status mail_attachment_read(juniper_ctx* /*ctx*/, int64_t mail_id, int32_t index, int64_t offset, int32_t max_bytes,
                                    juniper_sink* out, juniper_error* err) {
  juniper_status found = JUNIPER_OK;
  const juniper_status st = guarded(err, [&] {
    if (offset < 0 || max_bytes < 0) throw UserError("mail_attachment_read: offset and size must not be negative");
    std::lock_guard g(g_loans_mu);  // held while copying: the loan cannot end meanwhile
    const auto it = g_loans.find(mail_id);
    if (it == g_loans.end() || index < 0 || static_cast<std::size_t>(index) >= it->second.size()) {
      host_api()->error_set(err, JUNIPER_ERR_NOT_FOUND,
                            str("mail_attachment_read: mail " + std::to_string(mail_id) + " has no attachment " +
                                std::to_string(index) + " handed apart (only during its mail.deliver)"));
      found = JUNIPER_ERR_NOT_FOUND;
      return;
    }
    const std::string_view data = it->second[static_cast<std::size_t>(index)];
    const auto from = std::min<std::size_t>(static_cast<std::size_t>(offset), data.size());
    to_sink(out, data.substr(from, static_cast<std::size_t>(max_bytes)));
  });
  return st != JUNIPER_OK ? st : found;
}

}  // namespace juniper::modules
