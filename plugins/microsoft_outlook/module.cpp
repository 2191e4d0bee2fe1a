// Microsoft Outlook module: Azure OAuth (authorization code + PKCE) for outgoing (SMTP XOAUTH2)
// and incoming (IMAP XOAUTH2) mail servers. It supplies credentials and policy; the host sends
// and fetches (hooks mail.transport and mail.fetch.login).
#include "aadsts.hpp"
#include "device.hpp"
#include "graph.hpp"
#include "graph_draft.hpp"
#include "oauth.hpp"
#include "pages.hpp"
#include "warnings.hpp"

#include "juniper_module_info.h"

#include <juniper/sdk/module.hpp>

#include <algorithm>
#include <cctype>

namespace {

namespace sdk = juniper::sdk;
using json = nlohmann::json;
using outlook::Kind;

using outlook::text;
bool is_outlook(const Kind& k, const json& rec) { return text(rec, k.type_field) == "outlook"; }
std::string quoted(const json& rec) { return "\u201c" + text(rec, "name") + "\u201d"; }
std::string record_url(const Kind& k, std::int64_t id) {
  return "/web/record/" + std::string(k.model) + "/" + std::to_string(id);
}

// `when`: "smtp_authentication=outlook" or "server_type=outlook": shown on Outlook servers only.
std::vector<sdk::Field> token_fields(const std::string& when) {
  return {sdk::Field::secret("microsoft_outlook_refresh_token", "Outlook Refresh Token").hidden(),
          sdk::Field::secret("microsoft_outlook_access_token", "Outlook Access Token").hidden(),
          sdk::Field::integer("microsoft_outlook_access_token_expiration", "Outlook Access Token Expiration").hidden(),
          // The scopes the access token was issued for (a token serves one resource).
          sdk::Field::chars("microsoft_outlook_token_scope", "Outlook Token Scope").hidden(),
          sdk::Field::selection("microsoft_outlook_token_status", "Outlook Token",
                                {{"missing", "Outlook Token Missing"},
                                 {"valid", "Outlook Token Valid", "ok"},
                                 {"refresh_failed", "Outlook Token Invalid", "error"}})
              .defaults("missing")
              .readonly()
              .badge()
              .shown_if(when),
          sdk::Field::text("microsoft_outlook_token_error", "Outlook Token Error").readonly().shown_if(when),
          sdk::Field::datetime("microsoft_outlook_token_error_date", "Outlook Token Error Date").readonly().shown_if(when)};
}

// SMTP/IMAP (XOAUTH2) or Microsoft Graph, on Outlook servers only.
sdk::Field transport_field(const std::string& protocol, const std::string& label, const std::string& help,
                           const std::string& when) {
  return sdk::Field::selection("outlook_transport", "Outlook Transport", {{protocol, label}, {"graph", "Microsoft Graph API"}})
      .defaults(protocol)
      .help(help)
      .shown_if(when);
}

// A person's consent, or the app's own permission for mailboxes nobody signs in to.
sdk::Field flow_field(const std::string& when) {
  return sdk::Field::selection("outlook_flow", "Outlook Access",
                               {{"delegated", "Connect your Outlook account"}, {"app", "Application permission (no sign-in)"}})
      .defaults("delegated")
      .help(
          "Application permission: no one signs in; the app registration needs the application permission "
          "(Mail.Send / Mail.ReadWrite for Graph, SMTP.SendAsApp / IMAP.AccessAsApp for Exchange) with admin consent, "
          "the Tenant set to your tenant, and access to this mailbox granted in Exchange.")
      .shown_if(when);
}

void declare_outgoing(sdk::Registrar& reg) {
  const Kind& k = outlook::kOutgoing;
  reg.extend(k.model, token_fields("smtp_authentication=outlook"));
  reg.extend(k.model, {transport_field("smtp", "SMTP (XOAUTH2)",
                                       "Microsoft Graph API when Authenticated SMTP is disabled for the mailbox or tenant "
                                       "(5.7.139). Switching needs the consent for the other permissions: reconnect if asked.",
                                       "smtp_authentication=outlook"),
                       flow_field("smtp_authentication=outlook")});
  reg.extend_selection(k.model, "smtp_authentication", {{"outlook", "Outlook"}}, "login",
                       "Outlook");  // the seed: "with Outlook checked"
  reg.change_default(k.model, "smtp_authentication", "outlook",
                     {{"smtp_host", "smtp.office365.com"},
                      {"smtp_port", 587},
                      {"smtp_encryption", "starttls"},
                      // Exchange Online takes at most 500 recipients per message.
                      {"max_recipients", 500},
                      // Exchange Online: 30 messages per minute per mailbox.
                      {"max_per_minute", 30},
                      // ... and 10 000 recipients per rolling 24 hours.
                      {"max_recipients_per_day", 10000}});
  reg.constraint(k.model, "smtp_authentication,smtp_pass,smtp_encryption,smtp_user", [](sdk::Context&, const json& r) {
    if (text(r, "smtp_authentication") != "outlook") return;
    if (!text(r, "smtp_pass").empty()) {
      throw sdk::Error(JUNIPER_ERR_INVALID, "Please leave the password field empty for Outlook mail server " + quoted(r) +
                                                ". The OAuth process does not require it");
    }
    if (text(r, "smtp_encryption") != "starttls") {
      throw sdk::Error(JUNIPER_ERR_INVALID, "Incorrect Connection Security for Outlook mail server " + quoted(r) +
                                                ". Please set it to \"TLS (STARTTLS)\".");
    }
    if (text(r, "smtp_user").empty()) {
      throw sdk::Error(JUNIPER_ERR_INVALID,
                       "Please fill the \"Username\" field with your Outlook/Office365 username (your email address). This "
                       "should be the same account as the one used for the Outlook OAuthentication Token.");
    }
  });
}

void declare_incoming(sdk::Registrar& reg) {
  const Kind& k = outlook::kIncoming;
  reg.extend(k.model, token_fields("server_type=outlook"));
  reg.extend(k.model, {transport_field("imap", "IMAP (XOAUTH2)",
                                       "Microsoft Graph API when IMAP is disabled for the mailbox or tenant. Switching needs "
                                       "the consent for the other permissions (Mail.ReadWrite): reconnect if asked.",
                                       "server_type=outlook"),
                       flow_field("server_type=outlook")});
  reg.extend(k.model, {sdk::Field::chars("outlook_mailbox", "Shared Mailbox")
                           .help("A shared mailbox to read instead of the Username's own: the Username signs in (its "
                                 "token) and needs Full Access to it in Exchange.")
                           .shown_if("server_type=outlook")});
  // Graph ids of messages too large to fetch (left unread in the mailbox): not downloaded again.
  reg.extend(k.model, {sdk::Field::text("microsoft_outlook_graph_skipped", "Outlook Messages Not Fetched").hidden(),
                       // Where the next Graph fetch goes on: the Inbox's delta or next-page link.
                       sdk::Field::text("microsoft_outlook_graph_delta", "Outlook Inbox Sync").hidden()});
  reg.extend_selection(k.model, "server_type", {{"outlook", "Outlook OAuth Authentication"}}, "imap",
                       "Outlook OAuth Authentication");
  reg.change_default(k.model, "server_type", "outlook", {{"server", "outlook.office365.com"}, {"port", 993}, {"is_ssl", true}});
  reg.constraint(k.model, "server_type,is_ssl,password,user", [](sdk::Context&, const json& r) {
    if (text(r, "server_type") != "outlook") return;
    if (!r.value("is_ssl", false)) throw sdk::Error(JUNIPER_ERR_INVALID, "SSL is required for server " + quoted(r) + ".");
    if (!text(r, "password").empty()) {
      throw sdk::Error(JUNIPER_ERR_INVALID, "Please leave the password field empty for Outlook mail server " + quoted(r) +
                                                ". The OAuth process does not require it");
    }
    if (text(r, "user").empty()) {
      throw sdk::Error(JUNIPER_ERR_INVALID,
                       "Please fill the \"Username\" field with your Outlook/Office365 username (your email address).");
    }
  });
}

void declare_connect(sdk::Registrar& reg, const Kind& k) {
  reg.action(
      k.model, "outlook_connect", "Connect your Outlook account",
      [&k](sdk::Context& ctx, std::int64_t id) {
        if (!ctx.is_admin()) throw sdk::Error(JUNIPER_ERR_DENIED, "Only the administrator can link an Outlook mail server.");
        const json rec = ctx.read(k.model, id);
        if (!is_outlook(k, rec)) throw sdk::Error(JUNIPER_ERR_INVALID, "This server does not use Outlook OAuth Authentication.");
        return json{{"url", outlook::connect_url(ctx, k, id)}};
      },
      [&k](sdk::Context& ctx, const json& rec) { return outlook::sign_in_offered(ctx, k, rec); }, true);
  outlook::device::declare(reg, k);
}

bool https_base(sdk::Context& ctx) {
  const std::string base = ctx.param("web.base.url").value_or("");
  return base.size() >= 8 && std::equal(base.begin(), base.begin() + 8, "https://",
                                        [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == b; });
}

// GET /microsoft_outlook/start?nonce=...: the browser that clicked "Connect your Outlook
// account" gets (or keeps) its binding cookie, the state is bound to it, then off to Microsoft.
void start(sdk::Context& ctx, const sdk::Request& rq, sdk::Response& rs) {
  const auto existing = outlook::browser_cookie(rq.header("Cookie"));
  const std::string browser = existing.value_or(outlook::new_browser_cookie());
  const auto r = outlook::start_flow(ctx, rq.query("nonce").value_or(""), browser);
  if (!r.ok) {
    ctx.log(JUNIPER_LOG_WARNING, "refused to start an OAuth flow: " + r.why);
    rs.page(403, outlook::forbidden_page());
    return;
  }
  if (!existing) {
    // Lax: the callback is a top-level navigation from Microsoft, which must carry it.
    rs.header("Set-Cookie", std::string(outlook::kBrowserCookie) + "=" + browser +
                                "; Path=/microsoft_outlook/; Max-Age=86400; HttpOnly; SameSite=Lax" +
                                (https_base(ctx) ? "; Secure" : ""));
  }
  rs.redirect(r.redirect_url, 303);
}

// GET /microsoft_outlook/confirm?code=...&state=... (or error=...&error_description=...)
void confirm(sdk::Context& ctx, const sdk::Request& rq, sdk::Response& rs) {
  if (!ctx.is_admin()) {
    rs.page(403, outlook::forbidden_page());
    return;
  }
  const std::string state_text = rq.query("state").value_or("");
  if (const auto error = rq.query("error")) {
    // Explained error page; nothing is written. The back link needs a valid state.
    const auto c = outlook::check_state(ctx, state_text, outlook::browser_cookie(rq.header("Cookie")));
    const std::string back = c.ok ? record_url(*c.kind, c.record_id) : "/web";
    // 400: the sign-in did not happen (cancelled or refused at Microsoft); the page says why.
    rs.page(400, outlook::error_page(
                     outlook::explain(*error, rq.query("error_description").value_or(""), outlook::redirect_uri(ctx)), back));
    return;
  }
  const auto c = outlook::check_state(ctx, state_text, outlook::browser_cookie(rq.header("Cookie")));
  if (!c.ok) {
    ctx.log(JUNIPER_LOG_WARNING, "refused an OAuth callback: " + c.why);
    rs.page(403, outlook::forbidden_page());
    return;
  }
  const std::string code = rq.query("code").value_or("");
  if (code.empty()) {
    rs.page(403, outlook::forbidden_page());
    return;
  }
  const std::string scope = outlook::scope_for(*c.kind, ctx.read(c.kind->model, c.record_id));
  const auto r = outlook::redeem_code(ctx, scope, code, c.verifier);
  if (!r.tokens) {
    // 502: Microsoft would not redeem the code (or could not be reached).
    rs.page(502, outlook::error_page(r.error.message, record_url(*c.kind, c.record_id)));
    return;
  }
  ctx.write(outlook::kStateModel, c.state_id, {{"used", true}});
  outlook::store_tokens(ctx, *c.kind, c.record_id, *r.tokens, scope);
  rs.redirect(record_url(*c.kind, c.record_id), 303);
}

// mail.transport / mail.fetch.login: XOAUTH2 credentials for Outlook servers.
std::optional<json> credentials(sdk::Context& ctx, const json& payload) {
  if (payload.value("kind", "") != "outlook") return std::nullopt;
  const Kind* k = outlook::kind_of(payload.value("model", ""));
  if (k == nullptr) return std::nullopt;
  const std::int64_t id = payload.value("id", 0L);
  // Graph: the module sends each mail itself (mail.deliver), no SMTP credentials needed.
  if (outlook::graph::selected(ctx.read(k->model, id))) {
    return json{{"delivery", "module"},
                {"attachments_apart_above", outlook::graph::kApartAbove},
                {"message_max", outlook::graph::kMessageMax}};
  }
  const std::string token = outlook::access_token(ctx, *k, id, payload.value("fresh", false));
  const json rec = ctx.read(k->model, id);
  // A shared mailbox: the SASL user is the mailbox, the token the delegate's (Exchange's rule).
  return json{{"auth", "xoauth2"}, {"user", outlook::target_mailbox(*k, rec)}, {"secret", token}};
}

// An Outlook server without a From Filter gets its username as the filter (Odoo's form does
// this on change); a filter the administrator set is kept.
std::optional<json> follow_username(sdk::Context& ctx, const json& payload) {
  if (payload.value("model", "") != outlook::kOutgoing.model || payload.value("op", "") == "delete") return std::nullopt;
  const std::int64_t id = payload.value("id", 0L);
  const json rec = ctx.read(outlook::kOutgoing.model, id);
  if (is_outlook(outlook::kOutgoing, rec) && text(rec, "from_filter").empty() && !text(rec, "smtp_user").empty()) {
    ctx.write(outlook::kOutgoing.model, id, {{"from_filter", text(rec, "smtp_user")}});
  }
  return json::object();
}

// mail.refused: what a refused XOAUTH2 login means at Microsoft 365.
std::optional<json> explain_refusal(sdk::Context& ctx, const json& payload) {
  if (payload.value("kind", "") != "outlook" || payload.value("model", "") != outlook::kOutgoing.model) return std::nullopt;
  const json rec = ctx.read(outlook::kOutgoing.model, payload.value("id", std::int64_t{0}));
  const std::string mailbox = text(rec, "smtp_user");
  const std::string said = payload.value("message", "");
  if (payload.value("stage", "login") == "mail") {
    // 5.7.60 SendAsDenied: the signed-in account may not send as that (shared) address.
    const std::string reply = payload.value("reply", "") + " " + said;
    if (reply.find("5.7.60") == std::string::npos && reply.find("SendAsDenied") == std::string::npos) return std::nullopt;
    const std::string from = payload.value("from", "");
    return json{{"outcome", "failed"},
                {"reason", said + " " + mailbox + " may not send as " + from + ": give " + mailbox + " Send As on " + from +
                               " in Exchange (Add-RecipientPermission -Identity " + from + " -Trustee " + mailbox +
                               " -AccessRights SendAs), then retry this mail."}};
  }
  if (payload.value("reply", "").find("5.7.139") != std::string::npos || said.find("5.7.139") != std::string::npos) {
    // A tenant setting, not this mail: the mails wait and go once it is changed.
    return json{{"outcome", "wait"},
                {"reason", said + " Authenticated SMTP is disabled for " + mailbox +
                               " or its tenant: enable it in the Microsoft 365 admin center (Active users → Mail "
                               "→ Manage email apps → Authenticated SMTP), or switch this server's Outlook "
                               "Transport to Microsoft Graph API."}};
  }
  if (outlook::app_only(rec)) {
    // Exchange takes an application token only for mailboxes granted to the app's service principal.
    return json{{"outcome", "wait"},
                {"reason", said + " Exchange refused the application token for " + mailbox +
                               ": register the app's service principal in Exchange (New-ServicePrincipal -AppId <Client ID> "
                               "-ObjectId <its enterprise application's Object ID>) and grant it access to " +
                               mailbox + " (Add-MailboxPermission -Identity " + mailbox +
                               " -User <that service principal> -AccessRights FullAccess), and give the app the "
                               "SMTP.SendAsApp permission with admin consent."}};
  }
  return json{{"outcome", "failed"},
              {"reason", said + " The token was accepted by Microsoft but refused by the mail server: SMTP AUTH may be "
                                "disabled for this mailbox or tenant (5.7.139), the Username may not match the account "
                                "that signed in, or it lacks send-as rights for this sender."}};
}

// A setting of the Outlook Credentials block (Settings → Discuss), shown once Custom Email
// Servers is on; secrets are stored encrypted and never shown back.
sdk::Setting credential(const std::string& name, const std::string& label, juniper_field_type type, const std::string& help,
                        const std::string& parameter = {}) {
  return {.name = name,
          .config_parameter = parameter.empty() ? name : parameter,
          .type = type,
          .label = label,
          .secret = type == JUNIPER_FIELD_SECRET,
          .group = "Discuss",
          .block = "Outlook Credentials",
          .shown_if = "external_email_server_default",
          .help = help};
}

struct MicrosoftOutlook {
  JUNIPER_MODULE_INFO  // name, version, ...: from juniper_add_module() in CMakeLists.txt

      static void
      declare(sdk::Registrar& reg) {
    reg.setting(credential("microsoft_outlook_client_identifier", "Client ID", JUNIPER_FIELD_CHAR,
                           "Application (client) ID of your app registration in Microsoft Entra", "microsoft_outlook_client_id"));
    reg.setting(credential("microsoft_outlook_client_secret", "Client Secret", JUNIPER_FIELD_SECRET,
                           "The secret's Value (not its Secret ID) from Certificates & secrets"));
    reg.setting(credential("microsoft_outlook_client_certificate", "Client Certificate", JUNIPER_FIELD_SECRET,
                           "Instead of the secret (Microsoft's recommendation): the certificate uploaded to the app "
                           "registration (Certificates & secrets → Certificates) and its private key, both PEM. "
                           "Stored encrypted; used to sign each token request (RFC 7523)."));
    reg.setting(credential("microsoft_outlook_client_secret_expiry", "Client Secret Expires On", JUNIPER_FIELD_CHAR,
                           "YYYY-MM-DD, as Azure shows it. A new Client Secret will need to be produced and configured "
                           "if the first one expires; from 30 days before, every admin page and /web/health warn and "
                           "the administrators (mail.alert.recipients) get a mail a day."));
    sdk::Setting redirect = credential("microsoft_outlook_redirect_uri", "Redirect URI", JUNIPER_FIELD_CHAR,
                                       "Register exactly this address in Azure: App registrations → your app → "
                                       "Authentication → Add a platform → Web → Redirect URIs. It follows web.base.url "
                                       "(System Parameters); not needed for Connect with a code or application permission.");
    redirect.compute = [](sdk::Context& ctx) { return outlook::redirect_uri(ctx); };
    reg.setting(redirect);
    sdk::Setting tenant = credential("microsoft_outlook_tenant", "Tenant", JUNIPER_FIELD_CHAR,
                                     "common, organizations, consumers, or your tenant ID or domain (single-tenant apps; "
                                     "application permission needs it)");
    tenant.default_value = "common";
    reg.setting(tenant);
    reg.record_type(outlook::kStateModel, "Outlook OAuth State",
                    {sdk::Field::chars("nonce", "Nonce").required(), sdk::Field::chars("model", "Model").required(),
                     sdk::Field::integer("res_id", "Record").required(), sdk::Field::secret("code_verifier", "PKCE Verifier"),
                     sdk::Field::integer("expires_at", "Expires At"), sdk::Field::boolean("used", "Used"),
                     // Who started the flow (0: the command line) and the HMAC of the binding
                     // cookie of the browser that did (see /microsoft_outlook/start).
                     sdk::Field::integer("user_id", "Started By"), sdk::Field::chars("browser", "Browser Binding")});
    declare_outgoing(reg);
    declare_incoming(reg);
    declare_connect(reg, outlook::kOutgoing);
    declare_connect(reg, outlook::kIncoming);
    reg.route("GET", "/microsoft_outlook/confirm", JUNIPER_AUTH_USER, confirm, sdk::RouteOptions{.network = true});
    reg.route("GET", outlook::kStartPath, JUNIPER_AUTH_ADMIN, start);
    reg.hook("record.changed", 10, follow_username);
    reg.hook("admin.warnings", 10, outlook::warnings);
    reg.hook("mail.transport", 10, credentials);
    reg.hook("mail.fetch.login", 10, credentials);
    reg.hook(JUNIPER_HOOK_MAIL_DELIVER, 10, outlook::graph::deliver);
    reg.hook(JUNIPER_HOOK_MAIL_CHECK, 10, outlook::graph::check);
    reg.hook(JUNIPER_HOOK_MAIL_COLLECT, 10, outlook::graph::collect);
    reg.hook(JUNIPER_HOOK_MAIL_REFUSED, 10, explain_refusal);
  }

  // Nothing sends with a half configuration: Outlook servers are deactivated before the host
  // turns them back into login/imap servers and drops the token columns.
  static void uninstall(sdk::Context& ctx) {
    for (const auto id : ctx.search("ir.mail_server", {{"smtp_authentication", "outlook"}})) {
      ctx.write("ir.mail_server", id,
                {{"active", false}, {"microsoft_outlook_refresh_token", nullptr}, {"microsoft_outlook_access_token", nullptr}});
    }
    for (const auto id : ctx.search("fetchmail.server", {{"server_type", "outlook"}})) {
      ctx.write("fetchmail.server", id,
                {{"active", false},
                 {"state", "draft"},
                 {"microsoft_outlook_refresh_token", nullptr},
                 {"microsoft_outlook_access_token", nullptr}});
    }
  }
};

}  // namespace

JUNIPER_MODULE(MicrosoftOutlook)
