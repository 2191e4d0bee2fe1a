#include "mail/transport.hpp"

#include "core/errors.hpp"
#include "mail/records.hpp"
#include "mail/sender.hpp"
#include "records/record_service.hpp"

#include <algorithm>

namespace juniper::mail {
namespace {

smtp::Credentials to_credentials(const nlohmann::json& c) {
  smtp::Credentials out;
  out.kind = smtp::parse_auth(c.value("auth", "none"));  // a module's unknown word is refused, not "no login"
  out.user = c.value("user", "");
  out.secret = c.value("secret", "");
  return out;
}

}  // namespace

Transport server_transport(records::Env& env, modules::HookBus& hooks, const MailConfig& cfg, std::int64_t id, bool fresh) {
  const auto server = records::read(env, kOutgoingServer, id, records::Secrets::revealed);
  Transport t;
  t.server_id = id;
  t.name = server["name"].get<std::string>();
  t.endpoint.host = server["smtp_host"].is_string() ? server["smtp_host"].get<std::string>() : "";
  t.endpoint.port = server["smtp_port"].is_number() ? server["smtp_port"].get<int>() : 25;
  t.endpoint.security =
      smtp::parse_security(server["smtp_encryption"].is_string() ? server["smtp_encryption"].get<std::string>() : "none");
  t.endpoint.ca_file = cfg.ca_file;
  if (server.contains("max_recipients") && server["max_recipients"].is_number()) {
    t.max_recipients = static_cast<std::size_t>(std::max<std::int64_t>(0, server["max_recipients"].get<std::int64_t>()));
  }
  if (server.contains("max_per_minute") && server["max_per_minute"].is_number()) {
    t.max_per_minute = static_cast<std::size_t>(std::max<std::int64_t>(0, server["max_per_minute"].get<std::int64_t>()));
  }
  if (server.contains("max_recipients_per_day") && server["max_recipients_per_day"].is_number()) {
    t.max_recipients_per_day =
        static_cast<std::size_t>(std::max<std::int64_t>(0, server["max_recipients_per_day"].get<std::int64_t>()));
  }
  if (server.contains("max_connections") && server["max_connections"].is_number()) {
    t.max_connections = static_cast<std::size_t>(std::clamp<std::int64_t>(server["max_connections"].get<std::int64_t>(), 1, 16));
  }
  t.kind = server["smtp_authentication"].is_string() ? server["smtp_authentication"].get<std::string>() : "login";
  const nlohmann::json how = transport_credentials(env, hooks, server, fresh);
  t.module_delivery = how.value("delivery", "") == "module";
  if (t.module_delivery) {
    auto size = [&how](const char* key) {
      return how.contains(key) && how[key].is_number_unsigned() ? how[key].get<std::size_t>() : 0;
    };
    t.attachments = {size("attachments_apart_above"), size("message_max")};
  }
  if (!t.module_delivery && t.endpoint.host.empty()) {
    throw UserError("the outgoing mail server \"" + t.name + "\" has no SMTP Server (host): set it on the server record");
  }
  t.credentials = to_credentials(how);
  return t;
}

Transport default_transport(const MailConfig& cfg) {
  if (!cfg.smtp.configured()) {
    throw UserError(cfg.custom_servers
                        ? "no outgoing mail server matches and none is configured: create one under Outgoing Mail Servers"
                        : "no outgoing mail server: enable Custom Email Servers in Settings and create an outgoing server, or "
                          "set smtp_server in juniper.conf");
  }
  Transport t;
  t.name = "juniper.conf (" + cfg.smtp.host + ")";
  t.endpoint.host = cfg.smtp.host;
  t.endpoint.port = cfg.smtp.port;
  t.endpoint.security = smtp::parse_security(cfg.smtp.encryption);
  t.endpoint.ca_file = cfg.ca_file;
  if (!cfg.smtp.user.empty()) t.credentials = {smtp::AuthKind::password, cfg.smtp.user, cfg.smtp.password};
  t.max_recipients = cfg.smtp.max_recipients;
  return t;
}

std::optional<Explained> explain_refusal(records::Env& env, modules::HookBus& hooks, const Transport& t,
                                         const smtp::Result& refused, const std::string& from) {
  if (!t.server_id || t.kind == "login") return std::nullopt;
  nlohmann::json payload = {{"model", kOutgoingServer}, {"id", *t.server_id},         {"kind", t.kind},  {"code", refused.code},
                            {"reply", refused.reply},   {"message", refused.message}, {"stage", "login"}};
  if (!from.empty()) {
    payload["stage"] = "mail";
    payload["from"] = from;
  }
  const auto r = emit_committed(env, hooks, "mail.refused", payload);
  if (r.status != JUNIPER_OK) return std::nullopt;
  try {
    const auto a = nlohmann::json::parse(r.reply_json);
    if (a.value("reason", "").empty()) return std::nullopt;
    return Explained{a.value("reason", ""), a.value("outcome", "") == "wait"};
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
}

std::string server_label(const Transport& t) { return t.server_id ? "outgoing server \"" + t.name + "\"" : t.name; }

}  // namespace juniper::mail
