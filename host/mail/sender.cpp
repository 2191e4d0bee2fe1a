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
  std::size_t max_recipients = 100;  // per SMTP transaction; 0: no limit
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
  if (server.contains("max_recipients") && server["max_recipients"].is_number()) {
    t.max_recipients = static_cast<std::size_t>(std::max<std::int64_t>(0, server["max_recipients"].get<std::int64_t>()));
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
  t.max_recipients = cfg.smtp.max_recipients;
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

namespace {

// A mail routed for this run.
struct Routed {
  QueuedMail mail;
  std::string from_header;
  std::string envelope;
};
using GroupKey = std::pair<std::int64_t, std::string>;  // (server id or 0, envelope sender)

// A mail ready for the wire, or why it cannot be: one mail's problem is that mail's outcome.
struct Prepared {
  std::string data;                     // the MIME text
  std::vector<std::string> recipients;  // envelope addresses, To + Cc + Bcc
  std::string error;
};

Prepared prepare(const Routed& r) {
  Prepared p;
  try {
    for (const auto* list : {&r.mail.email_to, &r.mail.email_cc, &r.mail.email_bcc}) {
      for (const auto& m : list->empty() ? std::vector<Mailbox>{} : email_split(*list)) {
        try {
          p.recipients.push_back(to_ascii_address(m.address));
        } catch (const std::exception& e) {
          throw std::runtime_error("the recipient " + m.address + " cannot be carried by SMTP (" + e.what() + ")");
        }
      }
    }
    p.data = mime::build(message_for(r.mail, r.from_header));
  } catch (const std::exception& e) {
    p.error = std::string("cannot prepare this mail: ") + e.what() + ". Correct the mail (or cancel it) and retry.";
  }
  return p;
}

// What happened to one mail, decided without touching the database.
struct Outcome {
  enum Kind { sent, retry, wait, failed } kind = sent;
  std::string reason;
  std::optional<std::int64_t> server_id;  // sent: through which server record
};

// One Sender::process call: claims batches, routes, groups and sends them, and records each
// mail's outcome in its own short transaction. No transaction is open during network I/O.
class QueueRun {
 public:
  QueueRun(records::Env& env, modules::HookBus& hooks, const std::map<std::string, std::string>& conf,
           const SenderOptions& o)
      : env_(env), hooks_(hooks), options_(o), owner_(crypto::random_token(8)) {
    Transaction tr(env_.sql());
    cfg_ = load_mail_config(env_, conf);
    tr.commit();
    router_.emplace(make_router(cfg_));
    lease_ = o.lease.count() > 0 ? o.lease : cfg_.lease;
  }
  ~QueueRun() { close_all(); }

  SendReport run() {
    std::size_t remaining = options_.limit == 0 ? SIZE_MAX : options_.limit;
    while (remaining > 0) {
      auto claimed = claim_batch(std::min(options_.batch, remaining));
      if (claimed.empty()) break;
      remaining -= claimed.size();
      for (auto& [key, mails] : route(std::move(claimed))) send_group(key, mails);
    }
    close_all();
    if (report_.sent + report_.retried + report_.failed > 0) {
      log::info("mail", "queue run: " + std::to_string(report_.sent) + " sent, " + std::to_string(report_.retried) +
                            " to retry, " + std::to_string(report_.failed) + " failed over " +
                            std::to_string(report_.connections) + " connection(s)");
    }
    return report_;
  }

 private:
  std::chrono::system_clock::time_point now() const {
    return options_.clock ? options_.clock() : std::chrono::system_clock::now();
  }

  std::vector<QueuedMail> claim_batch(std::size_t n) {
    Transaction tr(env_.sql());
    auto claimed = claim(env_, owner_, n, lease_);
    tr.commit();
    lease_renewed_ = std::chrono::steady_clock::now();
    return claimed;
  }

  // Keeps this run's claim alive while a long batch is sent (called before each mail).
  void keep_lease() {
    if (std::chrono::steady_clock::now() - lease_renewed_ < lease_ / 3) return;
    Transaction tr(env_.sql());
    renew_lease(env_, owner_, lease_);
    tr.commit();
    lease_renewed_ = std::chrono::steady_clock::now();
  }

  // Routes every mail now (not at enqueue time) and groups them by (server, envelope sender).
  std::map<GroupKey, std::vector<Routed>> route(std::vector<QueuedMail> claimed) {
    std::map<GroupKey, std::vector<Routed>> groups;
    for (auto& m : claimed) {
      try {
        RouteDecision d;
        if (m.mail_server_id) {
          d.server_id = m.mail_server_id;
          d.from_header = encode_address_header(m.email_from);
          d.envelope_from = envelope_address(m.email_from);
        } else {
          d = router_->route(m.email_from);
        }
        groups[{d.server_id.value_or(0), d.envelope_from}].push_back({std::move(m), d.from_header, d.envelope_from});
      } catch (const std::exception& e) {
        record(m, {Outcome::failed, std::string("cannot route this mail: ") + e.what()});
      }
    }
    return groups;
  }

  void send_group(const GroupKey& key, std::vector<Routed>& mails) {
    // The transport is resolved once per group; a failure applies to every mail of the group.
    Transport transport;
    try {
      transport = key.first != 0 ? server_transport(env_, hooks_, cfg_, key.first, false) : default_transport(cfg_);
    } catch (const TemporaryError& e) {
      for (const auto& r : mails) record(r.mail, {Outcome::retry, e.what()});
      return;
    } catch (const std::exception& e) {
      // Configuration to fix (no server, an account to reconnect): the mails wait with the
      // reason, without burning attempts, and go out once it is fixed.
      for (const auto& r : mails) record(r.mail, {Outcome::wait, e.what()});
      return;
    }
    bool refreshed = false;
    // The next message is built (GMime) on a second thread while this one is on the wire.
    auto prepare_at = [&mails](std::size_t i) { return std::async(std::launch::async, [&mails, i] { return prepare(mails[i]); }); };
    std::future<Prepared> next = prepare_at(0);
    for (std::size_t i = 0; i < mails.size(); ++i) {
      Prepared p = next.get();
      if (i + 1 < mails.size()) next = prepare_at(i + 1);
      keep_lease();
      if (!p.error.empty()) {
        record(mails[i].mail, {Outcome::failed, p.error});
        continue;
      }
      smtp::Result res;
      const Outcome out = send_one(key, transport, refreshed, mails[i], p, res);
      record(mails[i].mail, out);
      if (res.outcome == smtp::Outcome::connection_failed || res.outcome == smtp::Outcome::auth_failed ||
          res.outcome == smtp::Outcome::tls_failed) {
        // The server is unusable right now: the rest of the group waits with the same reason.
        for (std::size_t j = i + 1; j < mails.size(); ++j) {
          record(mails[j].mail, {res.transient() ? Outcome::retry : Outcome::failed, res.message});
        }
        if (i + 1 < mails.size()) (void)next.get();
        drop_session(key);
        return;
      }
    }
  }

  // Sends one mail in transactions of at most the server's max_recipients, going on from the
  // recipients an earlier, interrupted run already served.
  Outcome send_one(const GroupKey& key, Transport& transport, bool& refreshed, const Routed& r, const Prepared& p,
                   smtp::Result& res) {
    const std::size_t total = p.recipients.size();
    const std::size_t chunk = transport.max_recipients == 0 ? total : transport.max_recipients;
    std::size_t done = std::min(r.mail.recipients_done, total);
    while (done < total) {
      const std::size_t end = std::min(total, done + chunk);
      smtp::Outgoing out{r.envelope, {p.recipients.begin() + static_cast<std::ptrdiff_t>(done),
                                      p.recipients.begin() + static_cast<std::ptrdiff_t>(end)}, p.data};
      res = session_for(key, transport).send(out);
      if (res.outcome == smtp::Outcome::auth_failed && transport.credentials.kind == smtp::AuthKind::xoauth2 && !refreshed &&
          transport.server_id) {
        // The token may have been revoked or expired early: ask once for a fresh one.
        refreshed = true;
        try {
          transport = server_transport(env_, hooks_, cfg_, *transport.server_id, true);
          drop_session(key);
          res = session_for(key, transport).send(out);
        } catch (const std::exception& e) {
          res.outcome = smtp::Outcome::temporary;
          res.message = e.what();
        }
      }
      if (res.outcome != smtp::Outcome::sent) break;
      done = end;
      if (done < total) {
        Transaction tr(env_.sql());
        mark_recipients_done(env_, r.mail.id, done);
        tr.commit();
      }
    }
    if (done >= total) {
      // Postfix may refuse some recipients and take the rest: the mail is sent, the refusals noted.
      std::string note;
      for (const auto& a : res.refused_recipients) note += (note.empty() ? "" : ", ") + a;
      if (!note.empty()) note = "sent, but the server refused these recipients: " + note + " (" + res.message + ")";
      return {Outcome::sent, note, transport.server_id};
    }
    std::string reason = res.message + " (" + server_label(transport) + (res.transient() ? "; will retry)" : ")");
    if (done > 0) reason += " " + std::to_string(done) + " of " + std::to_string(total) + " recipients already received it.";
    if (res.transient()) return {Outcome::retry, reason};
    if (res.outcome == smtp::Outcome::auth_failed && transport.credentials.kind == smtp::AuthKind::xoauth2) {
      reason += ". The token was accepted by the identity provider but refused by the mail server: SMTP AUTH may be "
                "disabled for this mailbox or tenant (5.7.139), the Username may not match the account that signed in, "
                "or it lacks send-as rights for this sender.";
    }
    return {Outcome::failed, reason};
  }

  // Records one mail's outcome in its own transaction; a database error ends the run (the
  // claimed mails go out again when their lease expires).
  void record(const QueuedMail& m, const Outcome& out) {
    Transaction tr(env_.sql());
    switch (out.kind) {
      case Outcome::sent:
        mark_sent(env_, m.id, out.server_id, out.reason);
        ++report_.sent;
        break;
      case Outcome::retry:
        if (age_of(m.create_date, now()) > cfg_.max_age) {
          mark_exception(env_, m.id, "gave up: still failing " + std::to_string(cfg_.max_age.count() / 3600) +
                                          " hours after it was queued (mail.queue.max_age). Last reason: " + out.reason);
          ++report_.failed;
        } else {
          mark_retry(env_, m, out.reason);
          ++report_.retried;
        }
        break;
      case Outcome::wait:
        mark_waiting(env_, m, out.reason, kConfigurationWait);
        ++report_.retried;
        break;
      case Outcome::failed:
        mark_exception(env_, m.id, out.reason);
        ++report_.failed;
        break;
    }
    tr.commit();
  }

  smtp::Session& session_for(const GroupKey& key, const Transport& t) {
    auto& o = open_[key];
    const bool same = o.session && o.endpoint.host == t.endpoint.host && o.endpoint.port == t.endpoint.port &&
                      o.endpoint.security == t.endpoint.security && o.credentials.kind == t.credentials.kind &&
                      o.credentials.user == t.credentials.user && o.credentials.secret == t.credentials.secret;
    if (!same) {  // first use, or new settings / a refreshed token: a new connection
      if (o.session) report_.connections += o.session->connections_opened();
      o = {t.endpoint, t.credentials, std::make_unique<smtp::Session>(t.endpoint, t.credentials)};
    }
    return *o.session;
  }

  void drop_session(const GroupKey& key) {
    if (auto it = open_.find(key); it != open_.end()) {
      if (it->second.session) report_.connections += it->second.session->connections_opened();
      open_.erase(it);
    }
  }

  void close_all() {
    for (auto& [key, o] : open_) {
      if (o.session) report_.connections += o.session->connections_opened();
    }
    open_.clear();  // QUIT
  }

  // Open sessions, kept across claimed batches: one connection per (server, envelope) per run.
  struct Open {
    smtp::Endpoint endpoint;
    smtp::Credentials credentials;
    std::unique_ptr<smtp::Session> session;
  };

  records::Env& env_;
  modules::HookBus& hooks_;
  SenderOptions options_;
  std::string owner_;
  MailConfig cfg_;
  std::optional<Router> router_;
  std::chrono::seconds lease_{60};
  std::chrono::steady_clock::time_point lease_renewed_ = std::chrono::steady_clock::now();
  std::map<GroupKey, Open> open_;
  SendReport report_;
};

}  // namespace

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
