// What an administrator must act on before mail stops (a client secret about to expire, an
// account that can no longer get a token): each module says it through the hook admin.warnings;
// the host shows it on every admin page and in /web/health, and mails it to
// mail.alert.recipients once a day per incident. The host knows no provider: only keys and texts.
#pragma once

#include "modules/hook_bus.hpp"
#include "records/env.hpp"

#include <chrono>
#include <string>
#include <vector>

namespace juniper::alerts {

struct Warning {
  std::string key;   // one incident ("<module>.<what>.<when>"): mailed once a day while it lasts
  std::string text;  // what happens and what to do
  std::string link;  // where to do it ("/web/settings"), may be empty
};

// Every module's warnings at `now` (the injected clock of tests); a failing module is logged.
std::vector<Warning> collect(records::Env& env, modules::HookBus& hooks, std::chrono::system_clock::time_point now);

// Queues one mail per warning not mailed in the 24 hours before `now` to mail.alert.recipients
// (comma list; none: only logged), from the notification address. Returns how many were queued.
std::size_t mail_due(records::Env& env, modules::HookBus& hooks, std::chrono::system_clock::time_point now);

}  // namespace juniper::alerts
