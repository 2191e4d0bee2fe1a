#include "graph.hpp"

#include "graph_call.hpp"
#include "graph_draft.hpp"
#include "oauth.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <optional>

namespace outlook::graph {

std::string base64(std::string_view data) {
  std::string out(4 * ((data.size() + 2) / 3), '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(data.data()),
                                static_cast<int>(data.size()));
  out.resize(static_cast<std::size_t>(std::max(n, 0)));
  return out;
}

namespace {

// Graph takes the recipients of a MIME message from its headers: the Bcc ones, which the host
// keeps out of the message, go back in as a Bcc header (Graph removes it on delivery).
std::string with_bcc(std::string mime, const json& bcc) {
  if (!bcc.is_array() || bcc.empty()) return mime;
  std::string line = "Bcc: ";
  for (std::size_t i = 0; i < bcc.size(); ++i) line += (i ? ",\r\n " : "") + bcc[i].get<std::string>();
  return line + "\r\n" + mime;
}

long seconds_of(const std::string& retry_after, long fallback) {
  if (retry_after.empty() ||
      !std::all_of(retry_after.begin(), retry_after.end(), [](unsigned char c) { return std::isdigit(c); }) ||
      retry_after.size() > 6) {
    return fallback;
  }
  return std::clamp(std::stol(retry_after), 1L, 24L * 3600);
}

json result(const char* outcome, const std::string& reason) { return {{"outcome", outcome}, {"reason", reason}}; }

// The badge shows the problem and the Connect button comes back.
void needs_reconnect(sdk::Context& ctx, const Kind& kind, std::int64_t id, const std::string& why) {
  ctx.write(kind.model, id,
            {{"microsoft_outlook_token_status", "refresh_failed"},
             {"microsoft_outlook_token_error", why},
             {"microsoft_outlook_token_error_date", now_iso()}});
}

const std::string kAppReadGrant =
    "Grant the app registration Mail.ReadWrite (Application) with admin consent, and include this mailbox in its "
    "application access policy (New-ApplicationAccessPolicy / Test-ApplicationAccessPolicy) if one restricts it.";
const std::string kAppSendGrant =
    "Grant the app registration Mail.Send (Application) with admin consent, and include this mailbox in its "
    "application access policy (New-ApplicationAccessPolicy / Test-ApplicationAccessPolicy) if one restricts it.";

// Why Graph refused to read `mailbox`, and what to grant.
std::string read_denied(const json& server, const Kind& kind, const std::string& mailbox, bool app) {
  const std::string said = "Microsoft Graph answered 403: ";
  if (app) return said + "the application may not read " + mailbox + ". " + kAppReadGrant;
  const std::string user = text(server, kind.user_field);
  if (mailbox != user) {
    return said + user + " may not open the shared mailbox " + mailbox +
           ": give it Full Access in Exchange "
           "(Add-MailboxPermission -Identity " +
           mailbox + " -User " + user + " -AccessRights FullAccess).";
  }
  return said + "the consent lacks Mail.ReadWrite for " + mailbox +
         ": reconnect the Outlook account (Connect your Outlook account) and accept reading mail.";
}

}  // namespace

namespace detail {

const Kind* ours(const json& payload) {
  if (payload.value("kind", "") != "outlook") return nullptr;
  return kind_of(payload.value("model", ""));
}

// Graph's answer to a read, as the fetch's error: throttling and outages are retried at the
// next fetch, the rest needs the administrator.
[[noreturn]] void fail_read(sdk::Context& ctx, const Kind& kind, std::int64_t id, const sdk::Context::HttpReply& r,
                            const std::string& mailbox) {
  const json server = ctx.read(kind.model, id);
  const bool app = app_only(server);
  json out = outcome_of(r.status, r.body, r.header("retry-after"), mailbox, mailbox, app);
  std::string reason = out["reason"].get<std::string>();
  bool reconnect = out["outcome"] == "wait";
  if (r.status == 403) {
    reason = read_denied(server, kind, mailbox, app);
    reconnect = !app && mailbox == text(server, kind.user_field);  // a grant in Exchange is no sign-in matter
  }
  if (reconnect) needs_reconnect(ctx, kind, id, reason);
  const bool later = out["outcome"] == "throttled" || out["outcome"] == "retry";
  throw sdk::Error(later ? JUNIPER_ERR_TEMPORARY : JUNIPER_ERR_INVALID, reason);
}

// One Graph request with the record's token; a 401 (revoked or expired early) gets one fresh
// token and one more try. With `refused`, an answer the host refuses to take (larger than it
// holds) is not thrown: its reason goes there and the reply's status is 0.
sdk::Context::HttpReply call(sdk::Context& ctx, const Kind& kind, std::int64_t id, const std::string& method,
                             const std::string& url, std::string_view body, const char* content_type, std::string* refused,
                             const json& extra_headers) {
  for (int attempt = 0;; ++attempt) {
    json headers = extra_headers;
    headers["Authorization"] = "Bearer " + access_token(ctx, kind, id, attempt > 0);
    if (content_type != nullptr) headers["Content-Type"] = content_type;
    sdk::Context::HttpReply r;
    try {
      r = ctx.http(method, url, headers, body, 60);
    } catch (const sdk::Error& e) {
      if (refused == nullptr || e.code() != JUNIPER_ERR_INVALID) throw;
      *refused = e.what();
      return {};
    }
    if (r.status == 401 && attempt == 0) continue;
    return r;
  }
}

}  // namespace detail

using detail::call;
using detail::fail_read;
using detail::ours;

bool selected(const json& server) { return text(server, "outlook_transport") == "graph"; }

std::string endpoint(sdk::Context& ctx) {
  std::string e = ctx.param("microsoft_outlook.graph_endpoint").value_or("https://graph.microsoft.com/v1.0/");
  if (e.empty() || e.back() != '/') e += '/';
  return e;
}

std::string mailbox_path(const Kind& kind, const json& server, const std::string& mailbox) {
  const bool own = !app_only(server) && mailbox == text(server, kind.user_field);
  return own ? "me/" : "users/" + sdk::url_encode(mailbox) + "/";
}

json outcome_of(long status, const std::string& body, const std::string& retry_after, const std::string& mailbox,
                const std::string& from, bool app) {
  if (status == 202 || status == 200) return result("sent", "");
  std::string code, message;
  try {
    const json j = json::parse(body);
    code = j.at("error").value("code", "");
    message = j.at("error").value("message", "");
  } catch (const json::exception&) {
  }
  const std::string said = "Microsoft Graph answered " + std::to_string(status) + (code.empty() ? "" : " " + code) +
                           (message.empty() ? "" : " (" + message + ")");
  if (status == 429 || status == 503 || status == 504) {
    const long after = seconds_of(retry_after, status == 429 ? 60 : 30);
    json out = result("throttled", said + ". Microsoft asked to slow down: this server's mails wait " + std::to_string(after) +
                                       " s, no attempt counted.");
    out["retry_after"] = after;
    return out;
  }
  if (status == 401) {
    return result("wait", said + (app ? ". Microsoft Graph refused the application's token for " + mailbox +
                                            ": check the app registration's Client ID, Secret and Tenant."
                                      : ". Microsoft Graph refused the access token of " + mailbox +
                                            ": reconnect the Outlook account (Connect your Outlook account)."));
  }
  if (status == 403 && code == "ErrorSendAsDenied") {
    return result("failed", said + ". " + mailbox + " may not send as " + from +
                                ": give it Send As rights on that mailbox in Exchange, or send from " + mailbox + ".");
  }
  if (status == 403 && app) {
    return result("wait", said + ". The application may not send as " + mailbox + ". " + kAppSendGrant);
  }
  if (status == 403) {
    return result("wait", said + ". The consent lacks Mail.Send for " + mailbox +
                              ": reconnect the Outlook account (Connect your Outlook account) and accept sending mail.");
  }
  if (status == 413) {
    return result("failed", said +
                                ". The message is larger than Microsoft Graph takes in one request (4 MB): reduce the "
                                "attachments, or send this server's mail through SMTP.");
  }
  if (status >= 500 || status == 0) return result("retry", said + ". The mail will be retried.");
  return result("failed", said + ". Correct the mail (or cancel it) and retry.");
}

std::optional<json> deliver(sdk::Context& ctx, const json& payload) {
  if (ours(payload) != &kOutgoing) return std::nullopt;
  const std::int64_t id = payload.value("id", std::int64_t{0});
  const json server = ctx.read(kOutgoing.model, id);
  if (!selected(server)) return std::nullopt;
  const std::string mailbox = text(server, "smtp_user");
  const std::string from = payload.value("from", "");
  // One copy in base64 (what Graph's MIME form wants); the plain text is dropped at once.
  const std::string body = base64(with_bcc(payload.value("message", ""), payload.value("bcc", json::array())));
  if (body.size() > kMaxRequest || !payload.value("attachments", json::array()).empty()) {
    json out = deliver_as_draft(ctx, server, mailbox, from, payload, body);
    if (out["outcome"] == "wait") needs_reconnect(ctx, kOutgoing, id, out["reason"].get<std::string>());
    return out;
  }
  const auto r =
      call(ctx, kOutgoing, id, "POST", endpoint(ctx) + mailbox_path(kOutgoing, server, mailbox) + "sendMail", body, "text/plain");
  json out = outcome_of(r.status, r.body, r.header("retry-after"), mailbox, from, app_only(server));
  if (out["outcome"] == "wait") needs_reconnect(ctx, kOutgoing, id, out["reason"].get<std::string>());
  return out;
}

std::optional<json> check(sdk::Context& ctx, const json& payload) {
  const Kind* kind = ours(payload);
  if (kind == nullptr) return std::nullopt;
  const std::int64_t id = payload.value("id", std::int64_t{0});
  const json server = ctx.read(kind->model, id);
  if (!selected(server)) return std::nullopt;
  const std::string mailbox = target_mailbox(*kind, server);
  std::string who_url = endpoint(ctx) + mailbox_path(*kind, server, mailbox);
  who_url.pop_back();  // ".../me" or ".../users/<mailbox>"
  const auto r = call(ctx, *kind, id, "GET", who_url);
  if (r.status == 403 && kind == &kIncoming)
    throw sdk::Error(JUNIPER_ERR_INVALID, read_denied(server, *kind, mailbox, app_only(server)));
  if (r.status != 200) {
    throw sdk::Error(JUNIPER_ERR_INVALID,
                     outcome_of(r.status, r.body, r.header("retry-after"), mailbox, mailbox, app_only(server))["reason"]);
  }
  std::string who = mailbox;
  try {
    const json me = json::parse(r.body);
    who = me.value("mail", me.value("userPrincipalName", mailbox));
  } catch (const json::exception&) {
  }
  return json{{"message", "Connection Test Successful! Microsoft Graph accepts the token of " + who + "."}};
}

}  // namespace outlook::graph
