// The OAuth 2.0 authorization-code flow against the Microsoft identity platform (v2.0), with
// PKCE, a signed single-use state, and refresh-token rotation.
#pragma once

#include <juniper/sdk/context.hpp>
#include <juniper/sdk/oauth2.hpp>

#include <optional>
#include <string>

namespace outlook {

namespace sdk = juniper::sdk;
namespace oauth2 = juniper::sdk::oauth2;
using json = nlohmann::json;

// What differs between outgoing (SMTP) and incoming (IMAP) servers.
struct Kind {
  const char* model;
  const char* type_field;  // smtp_authentication | server_type
  const char* user_field;  // smtp_user | user
  const char* scope;
};
const Kind* kind_of(std::string_view model);
extern const Kind kOutgoing;
extern const Kind kIncoming;

inline constexpr const char* kStateModel = "microsoft_outlook.oauth_state";

// Authority "https://login.microsoftonline.com/<tenant>/oauth2/v2.0/" or the
// microsoft_outlook.endpoint parameter ("{tenant}" in it is replaced).
std::string authority(sdk::Context& ctx);
std::string redirect_uri(sdk::Context& ctx);
bool credentials_configured(sdk::Context& ctx);
// Whether the record offers a person's sign-in (Connect your Outlook account, Connect with a
// code): an Outlook server on delegated access, not connected yet or no longer refreshable
// (unlike Odoo, which hides the button after the first connection).
bool sign_in_offered(sdk::Context& ctx, const Kind& kind, const json& rec);

// Creates a single-use state (10 minutes) with its PKCE verifier; returns the authorize URL.
// The state is not bound to a browser: for the command line (`record action`), where no
// browser session exists.
std::string authorize_url(sdk::Context& ctx, const Kind& kind, std::int64_t id);

// What "Connect your Outlook account" answers. For a logged-in user (a browser) the state is
// created for that user and the URL is kStartPath?nonce=...: that route binds the state to the
// browser (start_flow) before sending it to Microsoft. For the system user (CLI): authorize_url.
std::string connect_url(sdk::Context& ctx, const Kind& kind, std::int64_t id);
inline constexpr const char* kStartPath = "/microsoft_outlook/start";
// The browser's binding cookie: random, HttpOnly, Path=/microsoft_outlook/. The state keeps
// only its HMAC, so the callback must come from the browser that started the flow.
inline constexpr const char* kBrowserCookie = "microsoft_outlook_browser";
// The cookie's value in a Cookie header, if well formed.
std::optional<std::string> browser_cookie(const std::optional<std::string>& cookie_header);
std::string new_browser_cookie();

struct StartResult {
  bool ok = false;
  std::string why;           // for the log
  std::string redirect_url;  // Microsoft's authorize URL
};
// Binds the state `nonce` (created by connect_url for this user, unused, unexpired, not yet
// bound) to `browser` and builds the authorize URL. Nothing is written when refused.
StartResult start_flow(sdk::Context& ctx, const std::string& nonce, const std::string& browser);

struct StateCheck {
  bool ok = false;
  std::string why;  // for the log; the browser only sees a 403 page
  const Kind* kind = nullptr;
  std::int64_t record_id = 0;
  std::int64_t state_id = 0;
  std::string verifier;
};
// The state's parts, parsed (no database, no secret: the part a fuzzer reaches).
struct ParsedState {
  bool ok = false;
  std::string why;
  std::string model, nonce, csrf_token;
  std::int64_t id = 0;
  const Kind* kind = nullptr;
};
ParsedState parse_state(const std::string& state_text);
// What the state's MAC covers (model, id, nonce); the host signs it (Context::sign, purpose
// "oauth_state") under the module's own key.
std::string state_message(const std::string& model, std::int64_t id, const std::string& nonce);
// Constant-time comparison; false for an empty `given`.
bool mac_matches(const std::string& expected, const std::string& given);

// Parses and verifies a returned state without writing anything. A state started in a
// browser is only accepted from that browser (`browser`: its binding cookie) and user.
StateCheck check_state(sdk::Context& ctx, const std::string& state_text,
                       const std::optional<std::string>& browser = std::nullopt);

struct Tokens {
  std::string access_token;
  std::string refresh_token;
  std::int64_t expires_at = 0;  // unix seconds
};
struct TokenError {
  std::string error;    // "invalid_grant", "invalid_client", "temporarily_unavailable", "transport"
  std::string message;  // actionable
  bool temporary = false;
  bool reconnect = false;
};
// Either Tokens or TokenError.
struct TokenResult {
  std::optional<Tokens> tokens;
  TokenError error;
};
// The scopes a record's tokens are for (one resource per token: Microsoft refuses mixed
// requests): Exchange's SMTP.Send / IMAP.AccessAsUser.All, or Graph's when the record's
// outlook_transport is "graph". token_scope: what the stored access token was issued for.
// With app-only access: the resource's "/.default" (the application permissions an admin
// consented to).
std::string scope_for(const Kind& kind, const json& rec);
// The record's outlook_flow is "app": application permission (client credentials), no person
// signs in and no refresh token exists; "delegated" (default): a person's consent.
bool app_only(const json& rec);
// The mailbox a record works on: an incoming server's Shared Mailbox (outlook_mailbox) when
// set, read with the signed-in delegate's token; otherwise its Username.
std::string target_mailbox(const Kind& kind, const json& rec);
std::string token_scope(const Kind& kind, const json& rec);

// The device-code grant's token request (RFC 8628): tokens once someone signed in with the
// code; until then error.error is authorization_pending, slow_down, authorization_declined or
// expired_token.
inline constexpr const char* kDeviceGrant = "urn:ietf:params:oauth:grant-type:device_code";
TokenResult device_token(sdk::Context& ctx, const std::string& device_code);
// Stores a signed-in account's tokens on the record (status valid) and, for an outgoing
// server, releases the mails that waited for it.
void store_tokens(sdk::Context& ctx, const Kind& kind, std::int64_t id, const Tokens& tokens, const std::string& scope);

TokenResult redeem_code(sdk::Context& ctx, const std::string& scope, const std::string& code, const std::string& verifier);
TokenResult refresh(sdk::Context& ctx, const std::string& scope, const std::string& refresh_token);
// An application token (client credentials grant) for `scope` ("<resource>/.default"). Refused
// without asking Microsoft when the Tenant is a multi-tenant alias (common, organizations,
// consumers): application tokens are issued by one tenant.
TokenResult app_token(sdk::Context& ctx, const std::string& scope);

// A fresh access token for the record (refreshed 5 minutes ahead of expiry, one refresh at a
// time, the rotated refresh token stored in the same commit). `force` refreshes anyway.
// Throws sdk::Error: JUNIPER_ERR_TEMPORARY (retry) or JUNIPER_ERR_INVALID (reconnect needed).
std::string access_token(sdk::Context& ctx, const Kind& kind, std::int64_t id, bool force);

// A text field of a record as the SDK reads it ("" when unset or not text).
std::string text(const json& rec, const char* field);

using oauth2::now_unix;
std::string now_iso();

}  // namespace outlook
