#include "warnings.hpp"

#include "oauth.hpp"

#include <chrono>
#include <cstdio>

namespace outlook {
namespace {

constexpr long kWarnDays = 30;

std::optional<std::chrono::sys_seconds> parse(const std::string& text, bool with_time) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  const int want = with_time ? 6 : 3;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d", &y, &mo, &d, &h, &mi, &s) < want) return std::nullopt;
  const std::chrono::year_month_day day{std::chrono::year(y), std::chrono::month(static_cast<unsigned>(mo)),
                                        std::chrono::day(static_cast<unsigned>(d))};
  if (!day.ok()) return std::nullopt;
  return std::chrono::sys_days(day) + std::chrono::hours(h) + std::chrono::minutes(mi) + std::chrono::seconds(s);
}

std::optional<nlohmann::json> secret_warning(sdk::Context& ctx, const std::string& now) {
  const std::string expiry = ctx.param("microsoft_outlook_client_secret_expiry").value_or("");
  const bool certificate = !ctx.param("microsoft_outlook_client_certificate").value_or("").empty();
  if (expiry.empty() || certificate) return std::nullopt;  // a certificate replaces the secret
  const auto days = days_until(expiry, now);
  if (!days) {
    return nlohmann::json{{"key", "microsoft_outlook.secret_expiry.unreadable"},
                          {"text", "The Outlook Client Secret expiry date \u201c" + expiry +
                                       "\u201d cannot be read: write it as YYYY-MM-DD in Settings."},
                          {"link", "/web/settings"}};
  }
  if (*days > kWarnDays) return std::nullopt;
  const std::string what = *days < 0 ? "expired on " + expiry + ": Outlook mail has stopped"
                                     : "expires on " + expiry + " (in " + std::to_string(*days) + " days)";
  return nlohmann::json{{"key", std::string("microsoft_outlook.secret_") + (*days < 0 ? "expired." : "expiry.") + expiry},
                        {"text", "The Outlook Client Secret " + what +
                                     ". Create a new client secret in Azure (Certificates & secrets), paste its Value "
                                     "in Settings and note its new expiry date."},
                        {"link", "/web/settings"}};
}

// One warning per server whose token cannot be refreshed, per incident (its error date).
void token_warnings(sdk::Context& ctx, const Kind& kind, nlohmann::json& out) {
  for (const auto id :
       ctx.search(kind.model, {{kind.type_field, "outlook"}, {"microsoft_outlook_token_status", "refresh_failed"}})) {
    const auto rec = ctx.read(kind.model, id);
    const std::string since = text(rec, "microsoft_outlook_token_error_date");
    out.push_back({{"key", "microsoft_outlook.token." + std::string(kind.model) + "." + std::to_string(id) + "." + since},
                   {"text", "Outlook server \u201c" + text(rec, "name") + "\u201d cannot get a token" +
                                (since.empty() ? "" : " since " + since) + ": " + text(rec, "microsoft_outlook_token_error") +
                                " Its mail waits until this is fixed."},
                   {"link", "/web/record/" + std::string(kind.model) + "/" + std::to_string(id)}});
  }
}

}  // namespace

std::optional<long> days_until(const std::string& date, const std::string& now_iso) {
  const auto day = parse(date, false);
  const auto now = parse(now_iso, true);
  if (!day || !now) return std::nullopt;
  return static_cast<long>(std::chrono::floor<std::chrono::days>(*day - *now).count());
}

std::optional<nlohmann::json> warnings(sdk::Context& ctx, const nlohmann::json& payload) {
  nlohmann::json out = nlohmann::json::array();
  if (auto w = secret_warning(ctx, payload.value("now", now_iso()))) out.push_back(std::move(*w));
  token_warnings(ctx, kOutgoing, out);
  token_warnings(ctx, kIncoming, out);
  return nlohmann::json{{"warnings", out}};
}

}  // namespace outlook
