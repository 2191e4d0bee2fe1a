// The mail core's buttons: Test Connection on outgoing servers; Test & Confirm, Fetch Now and
// Reset Confirmation on incoming servers; Retry on queued mails.
#pragma once

#include "modules/hook_bus.hpp"
#include "records/registry.hpp"

#include <functional>
#include <map>

namespace juniper::mail {

using ConfigSource = std::function<std::map<std::string, std::string>()>;

// Registers the actions; they reach hooks and juniper.conf through the given references.
void declare_actions(records::Registry& registry, modules::HookBus& hooks, ConfigSource conf);

}  // namespace juniper::mail
