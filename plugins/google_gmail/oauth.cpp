#include "oauth.hpp"

#include <juniper/sdk/oauth2.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <sstream>
#include <vector>

namespace gmail {

const Kind kOutgoing{"ir.mail_server", "smtp_authentication", "smtp_user"};
const Kind kIncoming{"fetchmail.server", "server_type", "user"};

const Kind* kind_of(std::string_view model) {
  if (model == kOutgoing.model) return &kOutgoing;
  if (model == kIncoming.model) return &kIncoming;
  return nullptr;
}

namespace {

constexpr std::int64_t kFlowLifetime = 600;   // seconds from the click to Google's answer
constexpr std::int64_t kRefreshMargin = 300;  // refresh 5 minutes ahead of expiry
constexpr int kTokenTimeout = 10;             // seconds

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  std::stringstream in(s);
  for (std::string p; std::getline(in, p, sep);) parts.push_back(p);
  return parts;
}

std::int64_t number(const std::string& s) {
  if (s.empty() || s.size() > 18 || !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) return -1;
  return std::stoll(s);
}

std::int64_t user_of(sdk::Context& ctx) { return ctx.info().value("user_id", std::int64_t{0}); }

// "model|id|user|expiry": who may carry a flow for which record, until when.
std::string claim_text(const Kind& kind, std::int64_t id, std::int64_t user, std::int64_t expiry) {
  return std::string(kind.model) + "|" + std::to_string(id) + "|" + std::to_string(user) + "|" + std::to_string(expiry);
}

struct Claim {
  const Kind* kind = nullptr;
  std::int64_t id = 0, user = 0, expiry = 0;
};
std::optional<Claim> parse_claim(const std::vector<std::string>& p) {
  if (p.size() < 4) return std::nullopt;
  Claim c{kind_of(p[0]), number(p[1]), number(p[2]), number(p[3])};
  if (c.kind == nullptr || c.id <= 0 || c.user < 0 || c.expiry < 0) return std::nullopt;
  return c;
}

std::string query(const std::vector<std::pair<std::string, std::string>>& params) {
  std::string q;
  for (const auto& [k, v] : params) q += (q.empty() ? "" : "&") + sdk::url_encode(k) + "=" + sdk::url_encode(v);
  return q;
}

// Google's authorization URL for a state: offline access and a consent each time, so a refresh
// token always comes back (Google sends one only on a first consent otherwise).
std::string google_url(sdk::Context& ctx, const Kind& kind, std::int64_t id, const std::string& state) {
  const std::string login = text(ctx.read(kind.model, id), kind.user_field);
  std::vector<std::pair<std::string, std::string>> q = {{"client_id", ctx.param("google_gmail_client_id").value_or("")},
                                                        {"redirect_uri", redirect_uri(ctx)},
                                                        {"response_type", "code"},
                                                        {"scope", kScope},
                                                        {"access_type", "offline"},
                                                        {"prompt", "consent"},
                                                        {"state", state},
                                                        {"code_challenge", oauth2::pkce_s256(ctx.sign("pkce", state))},
                                                        {"code_challenge_method", "S256"}};
  if (!login.empty()) q.emplace_back("login_hint", login);
  return auth_endpoint(ctx) + "?" + query(q);
}

// "claim|nonce|mac": the MAC binds it to the browser's cookie ("" on the command line).
std::string new_state(sdk::Context& ctx, const Claim& c, const std::string& browser) {
  const std::string payload = claim_text(*c.kind, c.id, c.user, c.expiry) + "|" + oauth2::random_token(12);
  return payload + "|" + ctx.sign("state", payload + "\x1f" + browser);
}

}  // namespace

std::string text(const json& rec, const char* field) {
  return rec.contains(field) && rec[field].is_string() ? rec[field].get<std::string>() : "";
}

bool credentials_configured(sdk::Context& ctx) {
  return !ctx.param("google_gmail_client_id").value_or("").empty() &&
         !ctx.param("google_gmail_client_secret").value_or("").empty();
}

std::string redirect_uri(sdk::Context& ctx) {
  std::string base = ctx.param("web.base.url").value_or("http://localhost:8069");
  while (!base.empty() && base.back() == '/') base.pop_back();
  return base + kConfirmPath;
}

namespace {
std::string endpoint_base(sdk::Context& ctx) {
  std::string base = ctx.param("google_gmail.endpoint").value_or("");
  if (!base.empty() && base.back() != '/') base.push_back('/');
  return base;
}
}  // namespace

std::string auth_endpoint(sdk::Context& ctx) {
  const std::string base = endpoint_base(ctx);
  return base.empty() ? "https://accounts.google.com/o/oauth2/v2/auth" : base + "o/oauth2/v2/auth";
}

std::string token_endpoint(sdk::Context& ctx) {
  const std::string base = endpoint_base(ctx);
  return base.empty() ? "https://oauth2.googleapis.com/token" : base + "token";
}

std::string connect_url(sdk::Context& ctx, const Kind& kind, std::int64_t id) {
  if (!credentials_configured(ctx)) {
    throw sdk::Error(JUNIPER_ERR_INVALID, "Please configure your Gmail credentials (Client ID and Secret) in Settings.");
  }
  (void)ctx.read(kind.model, id);  // refuses a missing record
  const Claim c{&kind, id, user_of(ctx), now_unix() + kFlowLifetime};
  if (c.user == 0) return google_url(ctx, kind, id, new_state(ctx, c, ""));
  const std::string ticket = claim_text(kind, id, c.user, c.expiry);
  return std::string(kStartPath) + "?ticket=" + sdk::url_encode(ticket + "|" + ctx.sign("ticket", ticket));
}

std::optional<std::string> start_url(sdk::Context& ctx, const std::string& ticket, const std::string& browser, std::string& why) {
  const auto parts = split(ticket, '|');
  const auto c = parse_claim(parts);
  if (!c || parts.size() != 5) {
    why = "malformed ticket";
    return std::nullopt;
  }
  if (!oauth2::same_secret(ctx.sign("ticket", claim_text(*c->kind, c->id, c->user, c->expiry)), parts[4])) {
    why = "ticket not signed by this host";
  } else if (c->expiry < now_unix()) {
    why = "ticket expired";
  } else if (c->user == 0 || c->user != user_of(ctx)) {
    why = "ticket of another user";
  } else {
    return google_url(ctx, *c->kind, c->id, new_state(ctx, *c, browser));
  }
  return std::nullopt;
}

Flow check_state(sdk::Context& ctx, const std::string& state, const std::optional<std::string>& browser) {
  Flow f;
  const auto parts = split(state, '|');
  const auto c = parse_claim(parts);
  if (!c || parts.size() != 6) {
    f.why = "malformed state";
    return f;
  }
  const std::string payload = state.substr(0, state.rfind('|'));
  // A flow started in a browser is only finished by that browser; one from the command line has none.
  const std::string bound = c->user == 0 ? std::string() : browser.value_or("");
  if (!oauth2::same_secret(ctx.sign("state", payload + "\x1f" + bound), parts[5])) {
    f.why = c->user == 0 ? "state not signed by this host" : "state of another browser, or not signed by this host";
  } else if (c->expiry < now_unix()) {
    f.why = "state expired";
  } else if (c->user != 0 && c->user != user_of(ctx)) {
    f.why = "state of another user";
  } else if (ctx.search(c->kind->model, {{"id", c->id}}).empty()) {
    f.why = "the record is gone";
  } else {
    // The PKCE verifier is the host's MAC of the whole state: recomputed, never stored.
    f = {true, "", c->kind, c->id, ctx.sign("pkce", state)};
  }
  return f;
}

std::optional<std::string> browser_cookie(const std::optional<std::string>& header) {
  return oauth2::cookie(header, kBrowserCookie);
}

std::string new_browser_cookie() { return oauth2::random_token(32); }

namespace {

// What an administrator does about each of Google's answers.
std::string explain(const std::string& error, const std::string& description, sdk::Context& ctx) {
  if (error == "invalid_client" || error == "unauthorized_client") {
    return "Google does not accept the Gmail Client ID and Secret (" + description +
           "): copy them again from Google Cloud Console (APIs & Services > Credentials) into Settings.";
  }
  if (error == "redirect_uri_mismatch") {
    return "Google refused the redirect URI: add " + redirect_uri(ctx) +
           " to the Authorized redirect URIs of your OAuth client in Google Cloud Console.";
  }
  if (error == "invalid_grant") {
    return "Google refused the authorization (" + description + "): it expired or was revoked. Connect your Gmail account again.";
  }
  return "Google refused the token request: " + error + (description.empty() ? "" : " (" + description + ")");
}

TokenAnswer token_request(sdk::Context& ctx, json form) {
  TokenAnswer a;
  if (!credentials_configured(ctx)) {
    a.error = "not_configured";
    a.message = "Please configure your Gmail credentials (Client ID and Secret) in Settings.";
    return a;
  }
  form["client_id"] = ctx.param("google_gmail_client_id").value_or("");
  form["client_secret"] = ctx.param("google_gmail_client_secret").value_or("");
  json reply;
  try {
    reply = ctx.post_form(token_endpoint(ctx), form, kTokenTimeout);
  } catch (const sdk::Error& e) {
    return {std::nullopt, "transport", std::string("Google could not be reached: ") + e.what(), true};
  }
  const long status = reply.value("status", 0L);
  const json body = json::parse(reply.value("body", ""), nullptr, false);
  if (status == 200 && body.is_object() && body.contains("access_token")) {
    a.tokens =
        Tokens{body.value("access_token", ""), body.value("refresh_token", ""), now_unix() + body.value("expires_in", 3600L)};
    return a;
  }
  a.error = body.is_object() ? body.value("error", "") : "";
  a.temporary = status >= 500 || status == 429;
  a.message = a.temporary ? "Google is temporarily unavailable (HTTP " + std::to_string(status) + "); retried later."
                          : explain(a.error, body.is_object() ? body.value("error_description", "") : "", ctx);
  return a;
}

void mark_failed(sdk::Context& ctx, const Kind& kind, std::int64_t id, const std::string& message) {
  ctx.write(kind.model, id, {{"google_gmail_token_status", "refresh_failed"}, {"google_gmail_token_error", message}});
}

}  // namespace

TokenAnswer redeem_code(sdk::Context& ctx, const std::string& code, const std::string& verifier) {
  return token_request(
      ctx,
      {{"grant_type", "authorization_code"}, {"code", code}, {"code_verifier", verifier}, {"redirect_uri", redirect_uri(ctx)}});
}

void store_tokens(sdk::Context& ctx, const Kind& kind, std::int64_t id, const Tokens& tokens) {
  json values = {{"google_gmail_access_token", tokens.access_token},
                 {"google_gmail_access_token_expiration", tokens.expires_at},
                 {"google_gmail_token_status", "valid"},
                 {"google_gmail_token_error", nullptr}};
  if (!tokens.refresh_token.empty()) values["google_gmail_refresh_token"] = tokens.refresh_token;  // rotated
  ctx.write(kind.model, id, values);
  if (&kind == &kOutgoing) ctx.release_waiting_mails(kind.model, id);
}

namespace {

std::optional<std::string> still_good(const json& rec, bool fresh, const std::string& refused) {
  const std::string token = text(rec, "google_gmail_access_token");
  const auto& e = rec.value("google_gmail_access_token_expiration", json(0));
  const std::int64_t expiry = e.is_number() ? e.get<std::int64_t>() : 0;
  if (token.empty() || expiry - kRefreshMargin <= now_unix() || (fresh && token == refused)) return std::nullopt;
  return token;
}

std::string refresh(sdk::Context& ctx, const Kind& kind, std::int64_t id, const json& rec) {
  const std::string refresh_token = text(rec, "google_gmail_refresh_token");
  const std::string name = "\u201c" + text(rec, "name") + "\u201d";
  if (refresh_token.empty()) {
    throw sdk::Error(JUNIPER_ERR_INVALID, "Connect the Gmail account of server " + name + " (Connect your Gmail account) first.");
  }
  const TokenAnswer a = token_request(ctx, {{"grant_type", "refresh_token"}, {"refresh_token", refresh_token}});
  if (!a.tokens) {
    mark_failed(ctx, kind, id, a.message);
    throw sdk::Error(a.temporary ? JUNIPER_ERR_TEMPORARY : JUNIPER_ERR_INVALID, "Gmail server " + name + ": " + a.message);
  }
  store_tokens(ctx, kind, id, *a.tokens);
  return a.tokens->access_token;
}

}  // namespace

std::string access_token(sdk::Context& ctx, const Kind& kind, std::int64_t id, bool fresh) {
  const std::string refused = fresh ? text(ctx.read(kind.model, id), "google_gmail_access_token") : "";
  if (const auto t = still_good(ctx.read(kind.model, id), fresh, refused)) return *t;
  // One refresh at a time across threads and processes (a rotated refresh token must not race);
  // whoever is second uses the first one's result, or retries the mail shortly.
  const std::string name = "gmail-refresh:" + std::string(kind.model) + ":" + std::to_string(id);
  const auto held = ctx.try_claim(name, std::chrono::seconds(kTokenTimeout * 3));
  if (!held) throw sdk::Error(JUNIPER_ERR_TEMPORARY, "another refresh of this Gmail token is running; retried shortly");
  struct Release {
    sdk::Context& ctx;
    const std::string& name;
    const std::string& token;
    ~Release() { ctx.release(name, token); }
  } release{ctx, name, *held};
  const json rec = ctx.read(kind.model, id);
  if (const auto t = still_good(rec, fresh, refused)) return *t;
  return refresh(ctx, kind, id, rec);
}

}  // namespace gmail
