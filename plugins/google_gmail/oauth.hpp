// Google's OAuth 2.0 authorization-code flow for Gmail (PKCE, offline access, the
// https://mail.google.com/ scope), with a state the module keeps nowhere: every value it must
// recognise later is signed by the host (Context::sign) under the module's own key.
#pragma once

#include <juniper/sdk/context.hpp>
#include <juniper/sdk/oauth2.hpp>

#include <optional>
#include <string>

namespace gmail {

namespace sdk = juniper::sdk;
namespace oauth2 = juniper::sdk::oauth2;
using json = nlohmann::json;

// What differs between outgoing (SMTP) and incoming (IMAP) servers.
struct Kind {
  const char* model;
  const char* type_field;  // smtp_authentication | server_type
  const char* user_field;  // smtp_user | user
};
extern const Kind kOutgoing;
extern const Kind kIncoming;
const Kind* kind_of(std::string_view model);

inline constexpr const char* kScope = "https://mail.google.com/";
inline constexpr const char* kStartPath = "/google_gmail/start";
inline constexpr const char* kConfirmPath = "/google_gmail/confirm";
// The browser's binding cookie (random, HttpOnly, Path=/google_gmail/): a state is only
// accepted back from the browser that started it.
inline constexpr const char* kBrowserCookie = "google_gmail_browser";

std::string text(const json& rec, const char* field);
using oauth2::now_unix;
bool credentials_configured(sdk::Context& ctx);
std::string redirect_uri(sdk::Context& ctx);
std::string auth_endpoint(sdk::Context& ctx);
std::string token_endpoint(sdk::Context& ctx);

// "Connect your Gmail account": a signed link to kStartPath for the person who clicked (valid
// 10 minutes), or, on the command line (no browser), Google's URL itself.
std::string connect_url(sdk::Context& ctx, const Kind& kind, std::int64_t id);

struct Flow {
  bool ok = false;
  std::string why;  // for the log; the browser sees a 403 page
  const Kind* kind = nullptr;
  std::int64_t id = 0;
  std::string verifier;  // PKCE
};
// kStartPath?ticket=...: the ticket checked (this user, in time), then Google's URL carrying a
// state bound to `browser`.
std::optional<std::string> start_url(sdk::Context& ctx, const std::string& ticket, const std::string& browser, std::string& why);
// The state Google sent back, checked against the browser and the user who started the flow.
Flow check_state(sdk::Context& ctx, const std::string& state, const std::optional<std::string>& browser);

std::optional<std::string> browser_cookie(const std::optional<std::string>& cookie_header);
std::string new_browser_cookie();

struct Tokens {
  std::string access_token;
  std::string refresh_token;  // empty when Google kept the old one
  std::int64_t expires_at = 0;
};
struct TokenAnswer {
  std::optional<Tokens> tokens;
  std::string error;  // Google's error code, or "transport"
  std::string message;
  bool temporary = false;
};
TokenAnswer redeem_code(sdk::Context& ctx, const std::string& code, const std::string& verifier);

// Stores a connected account's tokens (status valid) and releases the mails that waited for it.
void store_tokens(sdk::Context& ctx, const Kind& kind, std::int64_t id, const Tokens& tokens);

// A usable access token for the record: refreshed 5 minutes ahead of expiry, one refresh at a
// time (a host claim), the result stored at once. Throws sdk::Error: JUNIPER_ERR_TEMPORARY
// (Google unreachable or busy) or JUNIPER_ERR_INVALID (reconnect needed, with what to do).
std::string access_token(sdk::Context& ctx, const Kind& kind, std::int64_t id, bool fresh);

}  // namespace gmail
