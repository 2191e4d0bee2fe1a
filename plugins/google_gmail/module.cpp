// Gmail module: Google OAuth (authorization code + PKCE, offline access) for outgoing (SMTP
// XOAUTH2) and incoming (IMAP XOAUTH2) mail servers, after Odoo's google_gmail. It supplies
// credentials; the host sends and fetches (hooks mail.transport and mail.fetch.login).
#include "oauth.hpp"

#include "juniper_module_info.h"

#include <juniper/sdk/module.hpp>

namespace {

namespace sdk = juniper::sdk;
using json = nlohmann::json;
using gmail::Kind;
using gmail::text;

bool is_gmail(const Kind& k, const json& rec) { return text(rec, k.type_field) == "gmail"; }
std::string quoted(const json& rec) { return "\u201c" + text(rec, "name") + "\u201d"; }
std::string record_url(const Kind& k, std::int64_t id) {
  return "/web/record/" + std::string(k.model) + "/" + std::to_string(id);
}

// `when`: "smtp_authentication=gmail" or "server_type=gmail": shown on Gmail servers only.
std::vector<sdk::Field> token_fields(const std::string& when) {
  return {sdk::Field::secret("google_gmail_refresh_token", "Gmail Refresh Token").hidden(),
          sdk::Field::secret("google_gmail_access_token", "Gmail Access Token").hidden(),
          sdk::Field::integer("google_gmail_access_token_expiration", "Gmail Access Token Expiration").hidden(),
          sdk::Field::selection("google_gmail_token_status", "Gmail Token",
                                {{"missing", "Gmail Token Missing"},
                                 {"valid", "Gmail Token Valid", "ok"},
                                 {"refresh_failed", "Gmail Token Invalid", "error"}})
              .defaults("missing")
              .readonly()
              .badge()
              .shown_if(when),
          sdk::Field::text("google_gmail_token_error", "Gmail Token Error").readonly().shown_if(when)};
}

void no_password(const json& r, const char* field) {
  if (!text(r, field).empty()) {
    throw sdk::Error(JUNIPER_ERR_INVALID, "Please leave the password field empty for Gmail mail server " + quoted(r) +
                                              ". The OAuth process does not require it");
  }
}

void declare_outgoing(sdk::Registrar& reg) {
  const Kind& k = gmail::kOutgoing;
  reg.extend(k.model, token_fields("smtp_authentication=gmail"));
  reg.extend_selection(k.model, "smtp_authentication", {{"gmail", "Gmail OAuth Authentication"}}, "login",
                       "Gmail OAuth Authentication");
  // Gmail: at most 100 recipients per message through SMTP (Workspace's limit for SMTP relay).
  reg.change_default(
      k.model, "smtp_authentication", "gmail",
      {{"smtp_host", "smtp.gmail.com"}, {"smtp_port", 587}, {"smtp_encryption", "starttls"}, {"max_recipients", 100}});
  reg.constraint(k.model, "smtp_authentication,smtp_pass,smtp_encryption,smtp_user", [](sdk::Context&, const json& r) {
    if (text(r, "smtp_authentication") != "gmail") return;
    no_password(r, "smtp_pass");
    if (text(r, "smtp_encryption") != "starttls") {
      throw sdk::Error(JUNIPER_ERR_INVALID, "Incorrect Connection Security for Gmail mail server " + quoted(r) +
                                                ". Please set it to \"TLS (STARTTLS)\".");
    }
    if (text(r, "smtp_user").empty()) {
      throw sdk::Error(JUNIPER_ERR_INVALID,
                       "Please fill the \"Username\" field with your Gmail username (your email address). This should be "
                       "the same account as the one used for the Gmail OAuthentication Token.");
    }
  });
}

void declare_incoming(sdk::Registrar& reg) {
  const Kind& k = gmail::kIncoming;
  reg.extend(k.model, token_fields("server_type=gmail"));
  reg.extend_selection(k.model, "server_type", {{"gmail", "Gmail OAuth Authentication"}}, "imap", "Gmail OAuth Authentication");
  reg.change_default(k.model, "server_type", "gmail", {{"server", "imap.gmail.com"}, {"port", 993}, {"is_ssl", true}});
  reg.constraint(k.model, "server_type,is_ssl,password,user", [](sdk::Context&, const json& r) {
    if (text(r, "server_type") != "gmail") return;
    if (!r.value("is_ssl", false)) throw sdk::Error(JUNIPER_ERR_INVALID, "SSL is required for the server " + quoted(r) + ".");
    no_password(r, "password");
    if (text(r, "user").empty()) {
      throw sdk::Error(JUNIPER_ERR_INVALID, "Please fill the \"Username\" field with your Gmail username (your email address).");
    }
  });
}

void declare_connect(sdk::Registrar& reg, const Kind& k) {
  reg.action(
      k.model, "gmail_connect", "Connect your Gmail account",
      [&k](sdk::Context& ctx, std::int64_t id) {
        if (!ctx.is_admin()) throw sdk::Error(JUNIPER_ERR_DENIED, "Only the administrator can link a Gmail mail server.");
        if (!is_gmail(k, ctx.read(k.model, id))) {
          throw sdk::Error(JUNIPER_ERR_INVALID, "This server does not use Gmail OAuth Authentication.");
        }
        return json{{"url", gmail::connect_url(ctx, k, id)}};
      },
      [&k](sdk::Context& ctx, const json& rec) {
        return is_gmail(k, rec) && gmail::credentials_configured(ctx) &&
               (text(rec, "google_gmail_refresh_token").empty() || text(rec, "google_gmail_token_status") == "refresh_failed");
      },
      true);
}

json refused_page(const std::string& back) {
  return {{"title", "Gmail connection refused"},
          {"paragraphs",
           {"This sign-in link is not valid here: it expired, was already used, or was opened in another "
            "browser or by another user.",
            "Go back to the mail server and click Connect your Gmail account again."}},
          {"tone", "error"},
          {"links", {{{"href", back}, {"label", "Back"}}}}};
}

json error_page(const std::string& message, const std::string& back) {
  return {{"title", "Gmail connection failed"},
          {"paragraphs", {message}},
          {"tone", "error"},
          {"links", {{{"href", back}, {"label", "Go back to your mail server"}}}}};
}

bool https_base(sdk::Context& ctx) { return ctx.param("web.base.url").value_or("").starts_with("https://"); }

// GET /google_gmail/start?ticket=...: the browser gets (or keeps) its binding cookie, then Google.
void start(sdk::Context& ctx, const sdk::Request& rq, sdk::Response& rs) {
  const auto existing = gmail::browser_cookie(rq.header("Cookie"));
  const std::string browser = existing.value_or(gmail::new_browser_cookie());
  std::string why;
  const auto url = gmail::start_url(ctx, rq.query("ticket").value_or(""), browser, why);
  if (!url) {
    ctx.log(JUNIPER_LOG_WARNING, "refused to start a Gmail sign-in: " + why);
    rs.page(403, refused_page("/web"));
    return;
  }
  if (!existing) {
    // Lax: Google's redirect back is a top-level navigation, which must carry it.
    rs.header("Set-Cookie", std::string(gmail::kBrowserCookie) + "=" + browser +
                                "; Path=/google_gmail/; Max-Age=86400; HttpOnly; SameSite=Lax" +
                                (https_base(ctx) ? "; Secure" : ""));
  }
  rs.redirect(*url, 303);
}

// GET /google_gmail/confirm?state=...&code=... (or error=access_denied): redeems the code at
// Google, outside any transaction (a network route).
void confirm(sdk::Context& ctx, const sdk::Request& rq, sdk::Response& rs) {
  const auto flow = gmail::check_state(ctx, rq.query("state").value_or(""), gmail::browser_cookie(rq.header("Cookie")));
  if (!flow.ok || !ctx.is_admin()) {
    ctx.log(JUNIPER_LOG_WARNING, "refused a Gmail callback: " + (flow.ok ? std::string("not an administrator") : flow.why));
    rs.page(403, refused_page("/web"));
    return;
  }
  const std::string back = record_url(*flow.kind, flow.id);
  if (const auto error = rq.query("error")) {
    const std::string said = *error == "access_denied" ? "The Google account did not allow access (Cancel on Google's page)."
                                                       : "Google answered " + *error + ".";
    rs.page(400, error_page(said + " Nothing was changed; Connect your Gmail account again to retry.", back));
    return;
  }
  const auto answer = gmail::redeem_code(ctx, rq.query("code").value_or(""), flow.verifier);
  if (!answer.tokens) {
    rs.page(502, error_page(answer.message, back));
    return;
  }
  gmail::store_tokens(ctx, *flow.kind, flow.id, *answer.tokens);
  rs.redirect(back, 303);
}

// mail.transport / mail.fetch.login: XOAUTH2 credentials for Gmail servers.
std::optional<json> credentials(sdk::Context& ctx, const json& payload) {
  if (payload.value("kind", "") != "gmail") return std::nullopt;
  const Kind* k = gmail::kind_of(payload.value("model", ""));
  if (k == nullptr) return std::nullopt;
  const std::int64_t id = payload.value("id", std::int64_t{0});
  const std::string token = gmail::access_token(ctx, *k, id, payload.value("fresh", false));
  return json{{"auth", "xoauth2"}, {"user", text(ctx.read(k->model, id), k->user_field)}, {"secret", token}};
}

// record.changed: a Gmail server without a From Filter sends as its Username (Odoo 17's
// on-change); a filter the administrator set is kept.
std::optional<json> from_username(sdk::Context& ctx, const json& payload) {
  const Kind& k = gmail::kOutgoing;
  if (payload.value("model", "") != k.model || payload.value("op", "") == "delete") return std::nullopt;
  const std::int64_t id = payload.value("id", std::int64_t{0});
  if (const json rec = ctx.read(k.model, id); is_gmail(k, rec) && text(rec, "from_filter").empty()) {
    if (const std::string user = text(rec, k.user_field); !user.empty()) ctx.write(k.model, id, {{"from_filter", user}});
  }
  return json::object();
}

// mail.refused: what a refused XOAUTH2 login means at Gmail.
std::optional<json> explain_refusal(sdk::Context& ctx, const json& payload) {
  if (payload.value("kind", "") != "gmail" || payload.value("stage", "login") != "login") return std::nullopt;
  const Kind* k = gmail::kind_of(payload.value("model", ""));
  if (k == nullptr) return std::nullopt;
  const std::string user = text(ctx.read(k->model, payload.value("id", std::int64_t{0})), k->user_field);
  return json{{"outcome", "wait"},
              {"reason", payload.value("message", "") + " Gmail refused the token for " + user +
                             ": the Username must be the Google account that was connected, and IMAP must be "
                             "enabled in its Gmail settings. Fix it, then Connect your Gmail account again."}};
}

sdk::Setting credential(const std::string& name, const std::string& parameter, const std::string& label, juniper_field_type type,
                        const std::string& help) {
  return {.name = name,
          .config_parameter = parameter,
          .type = type,
          .label = label,
          .secret = type == JUNIPER_FIELD_SECRET,
          .group = "Discuss",
          .block = "Gmail Credentials",
          .shown_if = "external_email_server_default",
          .help = help};
}

struct GoogleGmail {
  JUNIPER_MODULE_INFO  // name, version, ...: from juniper_add_module() in CMakeLists.txt

      static void
      declare(sdk::Registrar& reg) {
    reg.setting(credential("google_gmail_client_identifier", "google_gmail_client_id", "Client ID", JUNIPER_FIELD_CHAR,
                           "The OAuth client's ID from Google Cloud Console (APIs & Services > Credentials, a Web "
                           "application client)"));
    reg.setting(credential("google_gmail_client_secret", "google_gmail_client_secret", "Client Secret", JUNIPER_FIELD_SECRET,
                           "The same OAuth client's secret"));
    sdk::Setting redirect =
        credential("google_gmail_redirect_uri", "google_gmail_redirect_uri", "Redirect URI", JUNIPER_FIELD_CHAR,
                   "Add exactly this address to the client's Authorized redirect URIs. It follows web.base.url.");
    redirect.compute = [](sdk::Context& ctx) { return gmail::redirect_uri(ctx); };
    reg.setting(redirect);
    declare_outgoing(reg);
    declare_incoming(reg);
    declare_connect(reg, gmail::kOutgoing);
    declare_connect(reg, gmail::kIncoming);
    reg.route("GET", gmail::kConfirmPath, JUNIPER_AUTH_USER, confirm, sdk::RouteOptions{.network = true});
    reg.route("GET", gmail::kStartPath, JUNIPER_AUTH_ADMIN, start);
    reg.hook("record.changed", 10, from_username);
    reg.hook("mail.transport", 10, credentials);
    reg.hook("mail.fetch.login", 10, credentials);
    reg.hook(JUNIPER_HOOK_MAIL_REFUSED, 10, explain_refusal);
  }

  // Nothing sends with half a configuration: Gmail servers are deactivated before the host turns
  // them back into login/imap servers and drops the token columns.
  static void uninstall(sdk::Context& ctx) {
    for (const auto id : ctx.search("ir.mail_server", {{"smtp_authentication", "gmail"}})) {
      ctx.write("ir.mail_server", id, {{"active", false}});
    }
    for (const auto id : ctx.search("fetchmail.server", {{"server_type", "gmail"}})) {
      ctx.write("fetchmail.server", id, {{"active", false}, {"state", "draft"}});
    }
  }
};

}  // namespace

JUNIPER_MODULE(GoogleGmail)
