#include "modules/mail_services.hpp"

#include "core/ca_bundle.hpp"
#include "mail/imap/session.hpp"
#include "mail/smtp/session.hpp"
#include "modules/bridge.hpp"

#include <nlohmann/json.hpp>

#include <memory>

struct juniper_smtp {
  std::unique_ptr<juniper::mail::smtp::Session> session;
};

namespace juniper::modules {
namespace {

using nlohmann::json;

std::string text(const json& j, const char* key) {
  return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : "";
}

json endpoint_of(juniper_str endpoint_json) {
  json ep = json::parse(view(endpoint_json));
  if (!ep.is_object() || text(ep, "host").empty() || !ep.contains("port") || !ep["port"].is_number_integer()) {
    throw UserError("a mail endpoint needs \"host\" and a numeric \"port\"");
  }
  return ep;
}

// IMAP is implicit TLS ("ssl") or STARTTLS, never plaintext; anything else is refused.
bool imap_ssl(const std::string& word) {
  if (word == "ssl") return true;
  if (word == "starttls") return false;
  throw UserError("unknown IMAP connection security \"" + word + "\" (ssl or starttls)");
}

mail::imap::AuthKind imap_auth(const std::string& word) {
  if (word == "password") return mail::imap::AuthKind::password;
  if (word == "xoauth2") return mail::imap::AuthKind::xoauth2;
  throw UserError("unknown IMAP authentication \"" + word + "\" (password or xoauth2)");
}

}  // namespace

juniper_status smtp_open(juniper_ctx* ctx, juniper_str endpoint_json, juniper_smtp** out, juniper_error* err) {
  (void)ctx;
  return guarded(err, [&] {
    if (out == nullptr) throw UserError("smtp_open needs somewhere to put the session");
    const json ep = endpoint_of(endpoint_json);
    mail::smtp::Endpoint e;
    e.host = text(ep, "host");
    e.port = ep["port"].get<int>();
    // Unknown words are refused (JUNIPER_ERR_INVALID), never read as plaintext or no login.
    e.security = mail::smtp::parse_security(ep.value("security", "none"));
    e.ca_file = tls::extra_ca_file();
    mail::smtp::Credentials c;
    c.kind = mail::smtp::parse_auth(ep.value("auth", "none"));
    c.user = text(ep, "user");
    c.secret = text(ep, "secret");
    *out = new juniper_smtp{std::make_unique<mail::smtp::Session>(std::move(e), std::move(c))};
  });
}

juniper_status smtp_send(juniper_smtp* session, juniper_str envelope_json, juniper_str data, juniper_sink* out_json,
                         juniper_error* err) {
  return guarded(err, [&] {
    if (session == nullptr || !session->session) throw UserError("smtp_send on a closed session");
    const json env = json::parse(view(envelope_json));
    mail::smtp::Outgoing m;
    m.envelope_from = text(env, "from");
    if (env.contains("to") && env["to"].is_array()) {
      for (const auto& r : env["to"]) {
        if (r.is_string()) m.recipients.push_back(r.get<std::string>());
      }
    }
    m.data = std::string(view(data));
    const auto r = session->session->send(m);
    to_sink(out_json, json{{"outcome", std::string(mail::smtp::to_string(r.outcome))},
                           {"transient", r.transient()},
                           {"code", r.code},
                           {"message", r.message}}
                          .dump());
  });
}

void smtp_close(juniper_smtp* session) { delete session; }  // ~Session sends QUIT

juniper_status imap_check(juniper_ctx* ctx, juniper_str endpoint_json, juniper_sink* out_json, juniper_error* err) {
  (void)ctx;
  return guarded(err, [&] {
    const json ep = endpoint_of(endpoint_json);
    mail::imap::Endpoint e;
    e.host = text(ep, "host");
    e.port = ep["port"].get<int>();
    e.ssl = imap_ssl(ep.value("security", "ssl"));
    e.ca_file = tls::extra_ca_file();
    mail::imap::Credentials c;
    c.kind = imap_auth(ep.value("auth", "password"));
    c.user = text(ep, "user");
    c.secret = text(ep, "secret");
    try {
      mail::imap::Session s(std::move(e), std::move(c));
      s.open("INBOX");
      const auto unseen = s.search_unseen();
      to_sink(out_json, json{{"uidvalidity", s.uidvalidity()}, {"unseen", unseen}}.dump());
      s.close();
    } catch (const mail::imap::Error& x) {
      const bool temporary = x.kind() == mail::imap::ErrorKind::connection || x.kind() == mail::imap::ErrorKind::temporary_auth;
      if (temporary) throw TemporaryError(x.what());
      throw UserError(x.what());
    }
  });
}

}  // namespace juniper::modules
