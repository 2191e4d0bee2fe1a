// Where a group of mails goes: a server record (credentials from the host or a module's
// `mail.transport` hook) or juniper.conf's default SMTP settings, with the server's limits.
#pragma once

#include "mail/config.hpp"
#include "mail/queue.hpp"
#include "mail/smtp/session.hpp"
#include "modules/hook_bus.hpp"
#include "records/env.hpp"

#include <optional>
#include <string>

namespace juniper::mail {

struct Transport {
  std::optional<std::int64_t> server_id;  // none: juniper.conf's default SMTP settings
  std::string name;
  std::string kind;              // the server's smtp_authentication ("login", or a module's kind)
  bool module_delivery = false;  // the module of `kind` delivers each mail (hook mail.deliver)
  AttachmentPlan attachments;    // module delivery: which attachments it takes apart (none by default)
  smtp::Endpoint endpoint;
  smtp::Credentials credentials;
  std::size_t max_recipients = 100;        // per SMTP transaction; 0: no limit
  std::size_t max_connections = 1;         // SMTP sessions one run may keep open to this server
  std::size_t max_per_minute = 0;          // mails per rolling minute (all processes); 0: no limit
  std::size_t max_recipients_per_day = 0;  // recipients per rolling 24 hours; 0: no limit
};

// Throws TemporaryError (retry later) or UserError (configuration to fix).
Transport server_transport(records::Env& env, modules::HookBus& hooks, const MailConfig& cfg, std::int64_t id, bool fresh);
Transport default_transport(const MailConfig& cfg);

// A refusal explained by the module of the server's kind (hook mail.refused): what it means
// for that provider, and whether the mails should wait for a fix instead of failing. A refused
// login, or (`from` given) a mail the server refused for good (e.g. a sender it may not use).
struct Explained {
  std::string reason;
  bool wait = false;
};
std::optional<Explained> explain_refusal(records::Env& env, modules::HookBus& hooks, const Transport& t,
                                         const smtp::Result& refused, const std::string& from = {});

// "outgoing server \"Name\"" or "juniper.conf (host)", for reasons shown to an administrator.
std::string server_label(const Transport& t);

}  // namespace juniper::mail
