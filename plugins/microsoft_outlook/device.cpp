#include "device.hpp"

#include "aadsts.hpp"

#include <algorithm>

namespace outlook::device {
namespace {

constexpr const char* kCode = "microsoft_outlook_device_code";
constexpr const char* kInterval = "microsoft_outlook_device_interval";
constexpr const char* kPoll = "outlook_device_poll";
constexpr int kTimeout = 10;           // seconds, per request to the identity platform
constexpr std::int64_t kSlowDown = 5;  // RFC 8628: slow_down adds 5 seconds to the interval

std::string quoted(const json& rec) { return "\u201c" + text(rec, "name") + "\u201d"; }

json failed(const std::string& status, const std::string& reason) {
  return json{{"failed", true}, {"status", status}, {"reason", reason}};
}

void forget(sdk::Context& ctx, const Kind& kind, std::int64_t id) {
  ctx.write(kind.model, id, {{kCode, nullptr}, {kInterval, nullptr}});
}

// POST devicecode: Microsoft's answer, or a refusal explained for the record.
json request_code(sdk::Context& ctx, const json& rec, const std::string& scope) {
  json reply;
  try {
    reply = ctx.post_form(
        authority(ctx) + "devicecode",
        {{"client_id", ctx.param("microsoft_outlook_client_id").value_or("")}, {"scope", "offline_access " + scope}}, kTimeout);
  } catch (const sdk::Error& e) {
    throw sdk::Error(JUNIPER_ERR_TEMPORARY, std::string("The Microsoft identity platform could not be reached: ") + e.what());
  }
  json body = json::parse(reply.value("body", ""), nullptr, false);
  if (body.is_discarded()) body = json::object();
  if (reply.value("status", 0L) != 200 || !body.contains("device_code")) {
    throw sdk::Error(JUNIPER_ERR_INVALID,
                     "Outlook server " + quoted(rec) + ": " +
                         explain(body.value("error", ""), body.value("error_description", ""), redirect_uri(ctx)));
  }
  return body;
}

json connect(sdk::Context& ctx, const Kind& kind, std::int64_t id) {
  if (!ctx.is_admin()) throw sdk::Error(JUNIPER_ERR_DENIED, "Only the administrator can link an Outlook mail server.");
  const json rec = ctx.read(kind.model, id);
  if (text(rec, kind.type_field) != "outlook")
    throw sdk::Error(JUNIPER_ERR_INVALID, "This server does not use Outlook OAuth Authentication.");
  if (app_only(rec)) {
    throw sdk::Error(JUNIPER_ERR_INVALID, "Outlook server " + quoted(rec) + " uses application permission: nobody signs in.");
  }
  const json code = request_code(ctx, rec, scope_for(kind, rec));
  const std::int64_t interval = std::max<std::int64_t>(1, code.value("interval", 5L));
  const std::int64_t expires_in = code.value("expires_in", 900L);
  ctx.write(kind.model, id, {{kCode, code.value("device_code", "")}, {kInterval, interval}});
  ctx.log(JUNIPER_LOG_INFO, std::string("sign-in with a code started for ") + kind.model + " " + std::to_string(id));
  return json{{"user_code", code.value("user_code", "")},
              {"verification_uri", code.value("verification_uri", "")},
              {"expires_in", expires_in},
              {"message", code.value("message", "Open " + code.value("verification_uri", std::string()) + " and enter the code " +
                                                    code.value("user_code", std::string()) + ".")},
              {"continue", {{"action", kPoll}, {"after", interval}, {"until", now_unix() + expires_in + interval}}}};
}

// One look at Microsoft's answer: pending (maybe slower), connected, or why not.
json poll(sdk::Context& ctx, const Kind& kind, std::int64_t id) {
  const json rec = ctx.read(kind.model, id);
  const std::string code = text(rec, kCode);
  if (code.empty()) {
    return failed("expired",
                  "No sign-in with a code is under way for Outlook server " + quoted(rec) + ": click Connect with a code again.");
  }
  const TokenResult r = device_token(ctx, code);
  if (r.tokens) {
    forget(ctx, kind, id);
    store_tokens(ctx, kind, id, *r.tokens, scope_for(kind, rec));
    ctx.log(JUNIPER_LOG_INFO, std::string("signed in with a code: ") + kind.model + " " + std::to_string(id));
    return json{{"status", "valid"}, {"message", "Outlook Token Valid: Outlook server " + quoted(rec) + " is connected."}};
  }
  const std::string& error = r.error.error;
  if (error == "authorization_pending") return json{{"pending", true}};
  if (error == "slow_down") {
    const std::int64_t interval = rec.value(kInterval, json(5)).get<std::int64_t>() + kSlowDown;
    ctx.write(kind.model, id, {{kInterval, interval}});
    return json{{"pending", true}, {"after", interval}};
  }
  if (r.error.temporary) throw sdk::Error(JUNIPER_ERR_TEMPORARY, r.error.message);  // asked again at the next turn
  forget(ctx, kind, id);
  if (error == "authorization_declined") {
    return failed("declined", "The sign-in for Outlook server " + quoted(rec) +
                                  " was declined at Microsoft. Click Connect with a code to try again.");
  }
  if (error == "expired_token") {
    return failed("expired", "The code for Outlook server " + quoted(rec) +
                                 " expired before anyone signed in with it. Click Connect with a code for a new one.");
  }
  return failed("error", "Outlook server " + quoted(rec) + ": " + r.error.message);
}

}  // namespace

void declare(sdk::Registrar& reg, const Kind& kind) {
  reg.extend(kind.model, {sdk::Field::secret(kCode, "Outlook Device Code").hidden(),
                          sdk::Field::integer(kInterval, "Outlook Device Code Interval").hidden()});
  const auto visible = [&kind](sdk::Context& ctx, const json& rec) { return sign_in_offered(ctx, kind, rec); };
  reg.action(
      kind.model, "outlook_connect_device", "Connect with a code",
      [&kind](sdk::Context& ctx, std::int64_t id) { return connect(ctx, kind, id); }, visible,
      sdk::ActionOptions{.admin_only = true, .network = true});
  reg.action(
      kind.model, kPoll, "Check the sign-in with a code",
      [&kind](sdk::Context& ctx, std::int64_t id) { return poll(ctx, kind, id); }, {},
      sdk::ActionOptions{.admin_only = true, .network = true, .hidden = true});
}

}  // namespace outlook::device
