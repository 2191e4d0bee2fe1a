#include "mail/sender.hpp"

#include "core/errors.hpp"
#include "mail/address.hpp"
#include "mail/queue_run.hpp"
#include "mail/records.hpp"
#include "mail/smtp/session.hpp"
#include "mail/transport.hpp"
#include "records/record_service.hpp"

namespace juniper::mail {

modules::HookResult emit_committed(records::Env& env, modules::HookBus& hooks, const char* hook, const nlohmann::json& payload) {
  // Outside any transaction: what the handler writes (a refreshed token, or why the refresh
  // failed) commits at once, before the token is used, and no lock is held while the handler
  // waits on its identity provider (it takes a claim for one-at-a-time work instead).
  return hooks.emit(hook, env, payload.dump());
}

nlohmann::json transport_credentials(records::Env& env, modules::HookBus& hooks, const nlohmann::json& server, bool fresh) {
  const std::string kind = server["smtp_authentication"].is_string() ? server["smtp_authentication"].get<std::string>() : "login";
  if (kind == "login") {
    const std::string user = server["smtp_user"].is_string() ? server["smtp_user"].get<std::string>() : "";
    if (user.empty()) return {{"auth", "none"}};
    return {{"auth", "password"}, {"user", user}, {"secret", server["smtp_pass"].is_string() ? server["smtp_pass"] : ""}};
  }
  const nlohmann::json payload = {{"model", kOutgoingServer}, {"id", server["id"]}, {"kind", kind}, {"fresh", fresh}};
  const auto r = emit_committed(env, hooks, "mail.transport", payload);
  if (r.status == JUNIPER_OK) return nlohmann::json::parse(r.reply_json);
  const std::string name = server["name"].get<std::string>();
  if (r.status == JUNIPER_ERR_UNSUPPORTED) {
    throw UserError("no installed module handles the authentication \"" + kind + "\" of outgoing server \"" + name +
                    "\": install the module that provides it, or change the server's authentication");
  }
  if (r.status == JUNIPER_ERR_TEMPORARY) throw TemporaryError(r.error);
  throw UserError(r.error);
}

Sender::Sender(records::Env& env, modules::HookBus& hooks, const std::map<std::string, std::string>& conf)
    : env_(env), hooks_(hooks), conf_(conf) {}

SendReport Sender::process(const SenderOptions& options) { return QueueRun(env_, hooks_, conf_, options).run(); }

std::string test_smtp_connection(records::Env& env, modules::HookBus& hooks, const std::map<std::string, std::string>& conf,
                                 std::int64_t server_id) {
  const MailConfig cfg = load_mail_config(env, conf);
  const auto server = records::read(env, kOutgoingServer, server_id);
  // Test sender (Odoo 17+): the filter's first full address, else noreply@<its first domain>,
  // else the notification address.
  std::string from;
  const FromFilter filter = parse_from_filter(server["from_filter"].is_string() ? server["from_filter"].get<std::string>() : "");
  if (!filter.addresses.empty()) {
    from = filter.addresses.front();
  } else if (!filter.domains.empty()) {
    from = "noreply@" + filter.domains.front();
  } else {
    from = cfg.defaults.notification_address;
  }
  if (from.empty()) {
    throw UserError(
        "Please set a From Filter on this server, or the system parameters mail.default.from and "
        "mail.catchall.domain, so the test has a sender address.");
  }
  Transport t;
  try {
    t = server_transport(env, hooks, cfg, server_id, false);
  } catch (const std::exception& e) {
    throw UserError(e.what());
  }
  if (t.module_delivery) {  // the module's own service: it knows how to check it
    const auto r = emit_committed(env, hooks, "mail.check", {{"model", kOutgoingServer}, {"id", server_id}, {"kind", t.kind}});
    if (r.status != JUNIPER_OK) throw UserError(r.error);
    return nlohmann::json::parse(r.reply_json).value("message", "Connection Test Successful!");
  }
  smtp::Session session(t.endpoint, t.credentials);
  const std::string to = "noreply@" + email_domain_extract(from).value_or("example.com");
  const smtp::Result r = session.test(envelope_address(from), to);
  if (r.outcome == smtp::Outcome::auth_failed) {
    if (const auto explained = explain_refusal(env, hooks, t, r)) throw UserError(r.message + " " + explained->reason);
  }
  if (r.outcome != smtp::Outcome::sent) throw UserError(r.message);
  return "Connection Test Successful!";
}

}  // namespace juniper::mail
