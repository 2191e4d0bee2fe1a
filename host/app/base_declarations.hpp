// What the host itself declares (owner "base"): the record types and settings every
// installation has, before any module.
#pragma once

#include "modules/hook_bus.hpp"
#include "records/registry.hpp"

#include <functional>
#include <map>

namespace juniper {

using ConfSource = std::function<std::map<std::string, std::string>()>;

void declare_base(records::Registry& registry, modules::HookBus& hooks, ConfSource conf);

}  // namespace juniper
