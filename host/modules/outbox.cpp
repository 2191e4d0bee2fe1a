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
std::map<std::int64_t, std::shared_ptr<AttachmentLoan::State>> g_loans;

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

// A read runs under its loan's own lock (not the map's): loans of other mails go on, and the
// loan cannot end in the middle of it.
struct AttachmentLoan::State {
  std::mutex mu;
  AttachmentReader read;
};

AttachmentLoan::AttachmentLoan(std::int64_t mail_id, AttachmentReader read)
    : mail_id_(mail_id), state_(std::make_shared<State>()) {
  state_->read = std::move(read);
  std::lock_guard g(g_loans_mu);
  g_loans[mail_id] = state_;
}

AttachmentLoan::~AttachmentLoan() {
  {
    std::lock_guard g(g_loans_mu);
    g_loans.erase(mail_id_);
  }
  std::lock_guard g(state_->mu);
  state_->read = nullptr;
}

juniper_status mail_attachment_read(juniper_ctx* /*ctx*/, int64_t mail_id, int32_t index, int64_t offset, int32_t max_bytes,
                                    juniper_sink* out, juniper_error* err) {
  juniper_status found = JUNIPER_OK;
  const juniper_status st = guarded(err, [&] {
    if (offset < 0 || max_bytes < 0) throw UserError("mail_attachment_read: offset and size must not be negative");
    std::shared_ptr<AttachmentLoan::State> loan;
    {
      std::lock_guard g(g_loans_mu);
      if (const auto it = g_loans.find(mail_id); it != g_loans.end()) loan = it->second;
    }
    std::optional<std::string> piece;
    if (loan && index >= 0) {
      std::lock_guard g(loan->mu);
      if (loan->read)
        piece =
            loan->read(static_cast<std::size_t>(index), static_cast<std::size_t>(offset), static_cast<std::size_t>(max_bytes));
    }
    if (!piece) {
      host_api()->error_set(err, JUNIPER_ERR_NOT_FOUND,
                            str("mail_attachment_read: mail " + std::to_string(mail_id) + " has no attachment " +
                                std::to_string(index) + " handed apart (only during its mail.deliver)"));
      found = JUNIPER_ERR_NOT_FOUND;
      return;
    }
    to_sink(out, *piece);
  });
  return st != JUNIPER_OK ? st : found;
}

}  // namespace juniper::modules
