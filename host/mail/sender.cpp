#include "mail/sender.hpp"

#include "core/crypto.hpp"
#include "core/errors.hpp"
#include "core/log.hpp"
#include "mail/address.hpp"
#include "mail/mime/message.hpp"
#include "mail/queue.hpp"
#include "mail/records.hpp"
#include "mail/smtp/session.hpp"
#include "records/record_service.hpp"

#include <future>
#include <map>

namespace juniper::mail {
namespace {

constexpr std::chrono::seconds kConfigurationWait{300};

smtp::Security security(const std::string& s) {
  if (s == "starttls") return smtp::Security::starttls;
  if (s == "ssl") return smtp::Security::ssl;
  return smtp::Security::none;
}

std::vector<std::string> split_addresses(const std::string& list) {
  std::vector<std::string> out;
  if (list.empty()) return out;
  for (const auto& m : email_split(list)) out.push_back(envelope_address(m.address));
  return out;
}

std::vector<std::string> split_header(const std::string& list) {
  std::vector<std::string> out;
  if (list.empty()) return out;
  for (const auto& m : parse_mailboxes(list)) out.push_back(m.name.empty() ? m.address : formataddr(m.name, m.address));
  return out;
}

// Where one group of mails goes.
struct Transport {
  std::optional<std::int64_t> server_id;  // none: juniper.conf's default SMTP settings
  std::string name;
  smtp::Endpoint endpoint;
  smtp::Credentials credentials;
};

smtp::Credentials to_credentials(const nlohmann::json& c) {
  smtp::Credentials out;
  const std::string auth = c.value("auth", "none");
  out.kind = auth == "xoauth2" ? smtp::AuthKind::xoauth2 : auth == "password" ? smtp::AuthKind::password : smtp::AuthKind::none;
  out.user = c.value("user", "");
  out.secret = c.value("secret", "");
  return out;
}

Transport server_transport(records::Env& env, modules::HookBus& hooks, const MailConfig& cfg, std::int64_t id, bool fresh) {
  const auto server = records::read(env, kOutgoingServer, id, records::Secrets::revealed);
  Transport t;
  t.server_id = id;
  t.name = server["name"].get<std::string>();
  t.endpoint.host = server["smtp_host"].is_string() ? server["smtp_host"].get<std::string>() : "";
  t.endpoint.port = server["smtp_port"].is_number() ? server["smtp_port"].get<int>() : 25;
  t.endpoint.security = security(server["smtp_encryption"].is_string() ? server["smtp_encryption"].get<std::string>() : "none");
  t.endpoint.ca_file = cfg.ca_file;
  if (t.endpoint.host.empty()) {
    throw UserError("the outgoing mail server \"" + t.name + "\" has no SMTP Server (host): set it on the server record");
  }
  t.credentials = to_credentials(transport_credentials(env, hooks, server, fresh));
  return t;
}

Transport default_transport(const MailConfig& cfg) {
  if (!cfg.smtp.configured()) {
    throw UserError(cfg.custom_servers
                        ? "no outgoing mail server matches and none is configured: create one under Settings > Outgoing Email "
                          "Servers"
                        : "no outgoing mail server: enable Custom Email Servers in Settings and create an outgoing server, or "
                          "set smtp_server in juniper.conf");
  }
  Transport t;
  t.name = "juniper.conf (" + cfg.smtp.host + ")";
  t.endpoint.host = cfg.smtp.host;
  t.endpoint.port = cfg.smtp.port;
  t.endpoint.security = security(cfg.smtp.encryption);
  t.endpoint.ca_file = cfg.ca_file;
  if (!cfg.smtp.user.empty()) t.credentials = {smtp::AuthKind::password, cfg.smtp.user, cfg.smtp.password};
  return t;
}

mime::OutgoingMessage message_for(const QueuedMail& m, const std::string& from_header) {
  mime::OutgoingMessage msg;
  msg.from = from_header;
  msg.to = split_header(m.email_to);
  msg.cc = split_header(m.email_cc);
  msg.subject = m.subject;
  msg.text_body = m.body_text;
  msg.html_body = m.body_html;
  msg.message_id = m.message_id;
  if (!m.attachments_json.empty()) {
    for (const auto& a : nlohmann::json::parse(m.attachments_json)) {
      msg.attachments.push_back({a.value("filename", ""), a.value("content_type", ""), crypto::base64_decode(a.value("data", ""))});
    }
  }
  return msg;
}

struct Built {
  std::string data;   // the MIME text
  std::string error;  // or why it could not be built
};

std::string server_label(const Transport& t) { return t.server_id ? "outgoing server \"" + t.name + "\"" : t.name; }

}  // namespace

modules::HookResult emit_committed(records::Env& env, modules::HookBus& hooks, const char* hook, const nlohmann::json& payload) {
  // In its own transaction, committed whatever the answer: a token refresh (or its failure,
  // recorded on the server) is stored before the token is used.
  Transaction tr(env.sql());
  auto r = hooks.emit(hook, env, payload.dump());
  tr.commit();
  return r;
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

SendReport Sender::process(const SenderOptions& options) {
  SendReport report;
  const std::string owner = crypto::random_token(8);
  MailConfig cfg;
  {
    Transaction tr(env_.sql());
    cfg = load_mail_config(env_, conf_);
    tr.commit();
  }
  const Router router = make_router(cfg);
  const std::chrono::seconds lease = options.lease.count() > 0 ? options.lease : cfg.lease;
  auto lease_renewed = std::chrono::steady_clock::now();
  // Called before each mail: keeps this run's claim alive while a long batch is sent.
  auto keep_lease = [&] {
    if (std::chrono::steady_clock::now() - lease_renewed < lease / 3) return;
    Transaction tr(env_.sql());
    renew_lease(env_, owner, lease);
    tr.commit();
    lease_renewed = std::chrono::steady_clock::now();
  };
  std::size_t remaining = options.limit == 0 ? SIZE_MAX : options.limit;
  // Open sessions, kept across claimed batches: one connection per (server, envelope) per run.
  struct Open {
    smtp::Endpoint endpoint;
    smtp::Credentials credentials;
    std::unique_ptr<smtp::Session> session;
  };
  std::map<std::pair<std::int64_t, std::string>, Open> open;
  auto session_for = [&open, &report](const std::pair<std::int64_t, std::string>& key, const Transport& t) -> smtp::Session& {
    auto& o = open[key];
    const bool same = o.session && o.endpoint.host == t.endpoint.host && o.endpoint.port == t.endpoint.port &&
                      o.endpoint.security == t.endpoint.security && o.credentials.kind == t.credentials.kind &&
                      o.credentials.user == t.credentials.user && o.credentials.secret == t.credentials.secret;
    if (!same) {  // first use, or new settings / a refreshed token: a new connection
      if (o.session) report.connections += o.session->connections_opened();
      o = {t.endpoint, t.credentials, std::make_unique<smtp::Session>(t.endpoint, t.credentials)};
    }
    return *o.session;
  };
  auto drop_session = [&open, &report](const std::pair<std::int64_t, std::string>& key) {
    if (auto it = open.find(key); it != open.end()) {
      if (it->second.session) report.connections += it->second.session->connections_opened();
      open.erase(it);
    }
  };
  while (remaining > 0) {
    std::vector<QueuedMail> claimed;
    {
      Transaction tr(env_.sql());
      claimed = claim(env_, owner, std::min(options.batch, remaining), lease);
      tr.commit();
    }
    lease_renewed = std::chrono::steady_clock::now();
    if (claimed.empty()) break;
    remaining -= claimed.size();

    // Route every mail now (not at enqueue time), then group by (server, envelope sender).
    struct Routed {
      QueuedMail mail;
      std::string from_header;
      std::string envelope;
    };
    std::map<std::pair<std::int64_t, std::string>, std::vector<Routed>> groups;
    for (auto& m : claimed) {
      try {
        RouteDecision d;
        if (m.mail_server_id) {
          d.server_id = m.mail_server_id;
          d.from_header = encode_address_header(m.email_from);
          d.envelope_from = envelope_address(m.email_from);
        } else {
          d = router.route(m.email_from);
        }
        groups[{d.server_id.value_or(0), d.envelope_from}].push_back({std::move(m), d.from_header, d.envelope_from});
      } catch (const std::exception& e) {
        Transaction tr(env_.sql());
        mark_exception(env_, m.id, std::string("cannot route this mail: ") + e.what());
        tr.commit();
        ++report.failed;
      }
    }

    for (auto& [key, mails] : groups) {
      // Resolve the transport once per group; failures apply to every mail of the group.
      Transport transport;
      auto keep_all = [&](const std::string& reason, bool burn_attempt) {
        Transaction tr(env_.sql());
        for (const auto& r : mails) {
          burn_attempt ? mark_retry(env_, r.mail, reason) : mark_waiting(env_, r.mail, reason, kConfigurationWait);
        }
        tr.commit();
        report.retried += mails.size();
      };
      try {
        transport = key.first != 0 ? server_transport(env_, hooks_, cfg, key.first, false) : default_transport(cfg);
      } catch (const TemporaryError& e) {
        keep_all(e.what(), true);
        continue;
      } catch (const std::exception& e) {
        // Configuration to fix (no server, an account to reconnect): the mails wait with the
        // reason, without burning attempts, and go out once it is fixed.
        keep_all(e.what(), false);
        continue;
      }
      smtp::Session* session = &session_for(key, transport);
      bool refreshed = false;
      // The next message is built (GMime) on a second thread while this one is on the wire.
      auto build_at = [&mails](std::size_t i) {
        return std::async(std::launch::async, [&mails, i]() -> Built {
          try {
            return {mime::build(message_for(mails[i].mail, mails[i].from_header)), {}};
          } catch (const std::exception& e) {
            return {{}, std::string("cannot build the message: ") + e.what()};
          }
        });
      };
      std::future<Built> next = build_at(0);
      for (std::size_t i = 0; i < mails.size(); ++i) {
        const auto& r = mails[i];
        Built built = next.get();
        if (i + 1 < mails.size()) next = build_at(i + 1);
        keep_lease();
        if (!built.error.empty()) {
          Transaction tr(env_.sql());
          mark_exception(env_, r.mail.id, built.error);
          tr.commit();
          ++report.failed;
          continue;
        }
        const std::string& data = built.data;
        std::vector<std::string> rcpts = split_addresses(r.mail.email_to);
        for (auto& a : split_addresses(r.mail.email_cc)) rcpts.push_back(std::move(a));
        for (auto& a : split_addresses(r.mail.email_bcc)) rcpts.push_back(std::move(a));
        smtp::Result res = session->send({r.envelope, rcpts, data});
        if (res.outcome == smtp::Outcome::auth_failed && transport.credentials.kind == smtp::AuthKind::xoauth2 && !refreshed &&
            transport.server_id) {
          // The token may have been revoked or expired early: ask once for a fresh one.
          refreshed = true;
          try {
            transport = server_transport(env_, hooks_, cfg, *transport.server_id, true);
            drop_session(key);
            session = &session_for(key, transport);
            res = session->send({r.envelope, rcpts, data});
          } catch (const std::exception& e) {
            res.outcome = smtp::Outcome::temporary;
            res.message = e.what();
          }
        }
        Transaction tr(env_.sql());
        if (res.outcome == smtp::Outcome::sent) {
          mark_sent(env_, r.mail.id, transport.server_id);
          ++report.sent;
        } else if (res.transient()) {
          mark_retry(env_, r.mail, res.message + " (" + server_label(transport) + "; will retry)");
          ++report.retried;
        } else {
          std::string reason = res.message + " (" + server_label(transport) + ")";
          if (res.outcome == smtp::Outcome::auth_failed && transport.credentials.kind == smtp::AuthKind::xoauth2) {
            reason += ". The token was accepted by Microsoft but refused by the mail server: SMTP AUTH may be disabled "
                      "for this mailbox or tenant (5.7.139), the Username may not match the account that signed in, or "
                      "it lacks send-as rights for this sender.";
          }
          mark_exception(env_, r.mail.id, reason);
          ++report.failed;
        }
        tr.commit();
        if (res.outcome == smtp::Outcome::connection_failed || res.outcome == smtp::Outcome::auth_failed ||
            res.outcome == smtp::Outcome::tls_failed) {
          // The server is unusable right now: the rest of the group waits with the same reason.
          Transaction tr2(env_.sql());
          for (std::size_t j = i + 1; j < mails.size(); ++j) {
            res.transient() ? mark_retry(env_, mails[j].mail, res.message) : mark_exception(env_, mails[j].mail.id, res.message);
          }
          tr2.commit();
          (res.transient() ? report.retried : report.failed) += mails.size() - i - 1;
          drop_session(key);
          break;
        }
      }
    }
  }
  for (auto& [key, o] : open) {
    if (o.session) report.connections += o.session->connections_opened();
  }
  open.clear();  // QUIT
  if (report.sent + report.retried + report.failed > 0) {
    log::info("mail", "queue run: " + std::to_string(report.sent) + " sent, " + std::to_string(report.retried) +
                          " to retry, " + std::to_string(report.failed) + " failed over " +
                          std::to_string(report.connections) + " connection(s)");
  }
  return report;
}

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
    throw UserError("Please set a From Filter on this server, or the system parameters mail.default.from and "
                    "mail.catchall.domain, so the test has a sender address.");
  }
  Transport t;
  try {
    t = server_transport(env, hooks, cfg, server_id, false);
  } catch (const std::exception& e) {
    throw UserError(e.what());
  }
  smtp::Session session(t.endpoint, t.credentials);
  const std::string to = "noreply@" + email_domain_extract(from).value_or("example.com");
  const smtp::Result r = session.test(envelope_address(from), to);
  if (r.outcome != smtp::Outcome::sent) throw UserError(r.message);
  return "Connection Test Successful!";
}

}  // namespace juniper::mail
