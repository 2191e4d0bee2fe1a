#include "app/base_declarations.hpp"

#include "mail/actions.hpp"
#include "mail/records.hpp"

namespace juniper {

void declare_base(records::Registry& registry, modules::HookBus& hooks, ConfSource conf) {
  mail::declare_records(registry);
  mail::declare_actions(registry, hooks, std::move(conf));
}

}  // namespace juniper
