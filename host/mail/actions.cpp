#include "mail/actions.hpp"

#include "core/errors.hpp"
#include "mail/fetcher.hpp"
#include "mail/queue.hpp"
#include "mail/records.hpp"
#include "mail/sender.hpp"
#include "records/record_service.hpp"

namespace juniper::mail {
namespace {
records::ActionDef action(std::string model, std::string name, std::string label, records::ActionFn fn,
                          records::ActionVisibleFn visible = {}) {
  records::ActionDef a;
  a.model = std::move(model);
  a.name = std::move(name);
  a.label = std::move(label);
  a.admin_only = true;
  a.own_transactions = true;
  a.invoke = std::move(fn);
  a.visible = std::move(visible);
  a.owner = "base";
  return a;
}
records::ActionVisibleFn state_is(std::string state) {
  return [state](records::Env&, const nlohmann::json& r) { return r.value("state", "") == state; };
}
}  // namespace

void declare_actions(records::Registry& registry, modules::HookBus& hooks, ConfigSource conf) {
  registry.add_action(
      action(kOutgoingServer, "test_connection", "Test Connection", [&hooks, conf](records::Env& env, std::int64_t id) {
        std::string message = test_smtp_connection(env, hooks, conf(), id);
        // It works now (a switched transport, a grant made): the mails
        // waiting on it need not wait out their delay.
        if (const auto n = release_waiting(env, id); n > 0) {
          message += " " + std::to_string(n) + " waiting mail(s) will go out at the next queue run.";
        }
        return nlohmann::json{{"message", message}};
      }));
  registry.add_action(action(
      kIncomingServer, "button_confirm_login", "Test & Confirm",
      [&hooks, conf](records::Env& env, std::int64_t id) {
        return nlohmann::json{{"message", confirm_login(env, hooks, conf(), id)}};
      },
      state_is("draft")));
  registry.add_action(action(
      kIncomingServer, "fetch_mail", "Fetch Now",
      [&hooks, conf](records::Env& env, std::int64_t id) {
        const FetchReport r = fetch_all(env, hooks, conf(), id);
        const auto server = records::read(env, kIncomingServer, id);
        if (r.failed_servers > 0) {
          throw UserError("Couldn't get your emails: " + server["error_message"].get<std::string>());
        }
        std::string message = std::to_string(r.stored) + " new message(s) fetched.";
        if (r.skipped > 0) {
          message += " " + std::to_string(r.skipped) + " message(s) too large to fetch stay unread in the mailbox (see the log).";
        }
        return nlohmann::json{{"message", message}, {"stored", r.stored}, {"skipped", r.skipped}};
      },
      state_is("done")));
  registry.add_action(action(
      kIncomingServer, "set_draft", "Reset Confirmation",
      [](records::Env& env, std::int64_t id) {
        records::write(env, kIncomingServer, id, {{"state", "draft"}});
        return nlohmann::json{{"message", "The server is back to Not Confirmed."}};
      },
      state_is("done")));
  registry.add_action(action(kMail, "retry", "Retry", [](records::Env& env, std::int64_t id) {
    retry(env, id);
    return nlohmann::json{{"message", "The mail is queued again."}};
  }));
}

}  // namespace juniper::mail
