// The mail core's record types and settings, declared by the host (owner "base") so every
// installation has them and modules can extend them (Odoo names: people coming from Odoo or
// Flectra find ir.mail_server, fetchmail.server, mail.mail and mail.message).
#pragma once

#include "records/registry.hpp"

namespace juniper::mail {

void declare_records(records::Registry& registry);

inline constexpr const char* kOutgoingServer = "ir.mail_server";
inline constexpr const char* kIncomingServer = "fetchmail.server";
inline constexpr const char* kMail = "mail.mail";
inline constexpr const char* kMessage = "mail.message";
inline constexpr const char* kCustomServersSetting = "external_email_server_default";

}  // namespace juniper::mail
