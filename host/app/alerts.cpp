#include "app/alerts.hpp"

#include "core/log.hpp"
#include "db/database.hpp"
#include "mail/queue.hpp"
#include "mail/router.hpp"
#include "records/params.hpp"
#include "records/record_service.hpp"
#include "records/users.hpp"

namespace juniper::alerts {
namespace {

constexpr const char* kAlertModel = "mail.alert";
constexpr std::chrono::hours kRepeatAfter{24};

std::string param(records::Env& env, const std::string& key) { return records::param_get(env, key).value_or(""); }

std::string text_of(const nlohmann::json& w, const char* field) {
  return w.contains(field) && w[field].is_string() ? w[field].get<std::string>() : "";
}

// When the incident `key` was last mailed, and its record (0: never).
std::pair<std::int64_t, std::string> last_mailed(records::Env& env, const std::string& key) {
  const auto ids = records::search(env, kAlertModel, {{"key", key}}, 1);
  if (ids.empty()) return {0, ""};
  const auto rec = records::read(env, kAlertModel, ids.front());
  return {ids.front(), text_of(rec, "last_sent")};
}

}  // namespace

std::vector<Warning> collect(records::Env& env, modules::HookBus& hooks, std::chrono::system_clock::time_point now) {
  const auto r = hooks.emit("admin.warnings", env, nlohmann::json{{"now", mail::iso_time(now)}}.dump());
  std::vector<Warning> out;
  try {
    for (const auto& answer : nlohmann::json::parse(r.reply_json.empty() ? "[]" : r.reply_json)) {
      for (const auto& w : answer.value("warnings", nlohmann::json::array())) {
        Warning one{text_of(w, "key"), text_of(w, "text"), text_of(w, "link")};
        if (!one.key.empty() && !one.text.empty() && out.size() < 50) out.push_back(std::move(one));
      }
    }
  } catch (const nlohmann::json::exception& e) {
    log::warning("alerts", std::string("unreadable warnings: ") + e.what());
  }
  return out;
}

std::size_t mail_due(records::Env& env, modules::HookBus& hooks, std::chrono::system_clock::time_point now) {
  const auto warnings = collect(env, hooks, now);
  if (warnings.empty()) return 0;
  std::string to = param(env, "mail.alert.recipients");
  for (const auto& address : to.empty() ? records::admin_emails(env.db) : std::vector<std::string>{}) {
    to += (to.empty() ? "" : ", ") + address;  // else the administrators' own addresses
  }
  const std::string from = mail::notification_address(param(env, "mail.default.from"), param(env, "mail.catchall.domain"));
  std::size_t queued = 0;
  for (const auto& w : warnings) {
    const auto [id, last] = last_mailed(env, w.key);
    if (!last.empty() && mail::age_of(last, now) < kRepeatAfter) continue;  // mailed today already
    if (to.empty() || from.empty()) {
      log::warning("alerts", w.text +
                                 " (set mail.alert.recipients or an administrator's email (juniper user email), "
                                 "mail.default.from and mail.catchall.domain to be mailed)");
    } else {
      mail::Draft d;
      d.email_from = from;
      d.email_to = to;
      d.subject = "Juniper needs you: " + w.text.substr(0, 120);
      d.body_text = w.text + "\n\n" + (w.link.empty() ? "" : "Where: " + param(env, "web.base.url") + w.link + "\n\n") +
                    "You get this once a day while it lasts.";
      Transaction tr(env.sql());
      mail::enqueue(env, d);
      tr.commit();
      ++queued;
    }
    Transaction tr(env.sql());
    const nlohmann::json values = {{"key", w.key}, {"text", w.text}, {"last_sent", mail::iso_time(now)}};
    if (id == 0) {
      records::create(env, kAlertModel, values);
    } else {
      records::write(env, kAlertModel, id, values);
    }
    tr.commit();
  }
  return queued;
}

}  // namespace juniper::alerts
