#include "app/follow_up.hpp"

#include "core/errors.hpp"

#include <algorithm>
#include <condition_variable>
#include <mutex>

namespace juniper::app {

using json = nlohmann::json;
using std::chrono::seconds;

namespace {

constexpr seconds kMinPause{1};
constexpr seconds kMaxPause{60};
constexpr seconds kMaxSpan{3600};

seconds bounded_pause(const json& v, seconds fallback) {
  if (!v.is_number_integer()) return fallback;
  return std::clamp(seconds(v.get<std::int64_t>()), kMinPause, kMaxPause);
}

json failure(const std::string& reason) { return json{{"failed", true}, {"reason", reason}}; }

}  // namespace

std::optional<FollowUp> follow_up_of(const records::Registry& registry, const std::string& model, const json& answer,
                                     std::chrono::system_clock::time_point now) {
  if (!answer.is_object() || !answer.contains("continue")) return std::nullopt;
  const json& c = answer["continue"];
  const std::string action =
      c.is_object() && c.contains("action") && c["action"].is_string() ? c["action"].get<std::string>() : "";
  if (registry.action(model, action) == nullptr)
    throw UserError("the action asked to be followed by '" + action + "', which " + model + " does not have");
  FollowUp f{action, bounded_pause(c.value("after", json()), seconds(5)), now + kMaxSpan};
  if (c.contains("until") && c["until"].is_number_integer()) {
    const auto until = std::chrono::system_clock::time_point(seconds(c["until"].get<std::int64_t>()));
    f.until = std::min(f.until, until);
  }
  return f;
}

bool is_pending(const json& answer) { return answer.is_object() && answer.value("pending", false); }
bool is_failure(const json& answer) { return answer.is_object() && answer.value("failed", false); }

json shown(json answer) {
  if (!answer.is_object()) return answer;
  for (const char* key : {"continue", "pending", "failed", "after"}) answer.erase(key);
  return answer;
}

std::string sentence(const json& answer, const std::string& fallback) {
  for (const char* key : {"message", "reason"}) {
    if (answer.is_object() && answer.contains(key) && answer[key].is_string()) return answer[key].get<std::string>();
  }
  return fallback;
}

json invoke_action(Host& host, const records::User& user, const std::string& model, std::int64_t id, const std::string& action) {
  auto lease = host.db().lock();
  auto env = host.env(user);
  const records::ActionDef* def = env.registry.action(model, action);
  if (def == nullptr) throw UserError("model " + model + " has no action '" + action + "'");
  if (def->admin_only && !user.is_admin) throw UserError("only an administrator may run " + def->label);
  // A refused action changes nothing, unless it commits its own steps (fetch: store, then \Seen;
  // network actions: nothing held while waiting on a peer).
  std::optional<Transaction> tr;
  if (!def->own_transactions) tr.emplace(host.db().session());
  json answer = def->invoke(env, id);
  if (tr) tr->commit();
  return answer.is_object() ? answer : json::object();
}

bool real_pause(seconds after, std::stop_token stop) {
  std::mutex m;
  std::condition_variable_any cv;
  std::unique_lock lock(m);
  return !cv.wait_for(lock, stop, after, [] { return false; }) && !stop.stop_requested();
}

json follow(Host& host, const records::User& user, const std::string& model, std::int64_t id, FollowUp f, std::stop_token stop,
            const Pause& pause) {
  for (;;) {
    if (!pause(f.after, stop)) return failure("Stopped before the outcome was known: run the action again.");
    json answer;
    try {
      answer = invoke_action(host, user, model, id, f.action);
    } catch (const TemporaryError& e) {
      answer = json{{"pending", true}};  // the peer is down for now: ask again at the next turn
    } catch (const std::exception& e) {
      return failure(e.what());
    }
    if (!is_pending(answer)) return answer;
    if (std::chrono::system_clock::now() >= f.until) return failure("No outcome before the time ran out: run the action again.");
    f.after = bounded_pause(answer.value("after", json()), f.after);
  }
}

}  // namespace juniper::app
