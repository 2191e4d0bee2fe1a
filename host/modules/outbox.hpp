// The host call mail_release (ABI 1.4): a module that fixed what an outgoing server's mails were
// waiting for (a reconnect, a grant) lets them go at the next queue run. The mail application
// installs the release, so the module system does not depend on the layer above it.
#pragma once

#include "records/env.hpp"

#include <juniper/sdk/c/juniper_host.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace juniper::modules {

// Makes the mails waiting on outgoing server `server_id` due now; answers how many.
using MailRelease = std::function<std::int64_t(records::Env& env, std::int64_t server_id)>;
void install_mail_release(MailRelease release);

juniper_status mail_release(juniper_ctx* ctx, juniper_str model, int64_t id, int64_t* out_released, juniper_error* err);

// The host call mail_attachment_read (ABI 1.6): while a mail's mail.deliver hook runs, the mail
// queue lends the attachments it left out of the message; the module reads them in pieces,
// each read answered by `read` (index, offset, max bytes; nullopt: no such attachment). The
// loan ends (and reads answer NOT_FOUND) when this goes; a read under way finishes first.
using AttachmentReader = std::function<std::optional<std::string>(std::size_t index, std::size_t offset, std::size_t max)>;
class AttachmentLoan {
 public:
  AttachmentLoan(std::int64_t mail_id, AttachmentReader read);
  ~AttachmentLoan();
  AttachmentLoan(const AttachmentLoan&) = delete;
  AttachmentLoan& operator=(const AttachmentLoan&) = delete;

  struct State;

 private:
  std::int64_t mail_id_;
  std::shared_ptr<State> state_;
};

juniper_status mail_attachment_read(juniper_ctx* ctx, int64_t mail_id, int32_t index, int64_t offset, int32_t max_bytes,
                                    juniper_sink* out, juniper_error* err);

}  // namespace juniper::modules
