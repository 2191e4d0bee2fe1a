// What the host itself declares (owner "base"): the record types and settings every
// installation has, before any module.
#pragma once

#include "records/registry.hpp"

namespace juniper {

void declare_base(records::Registry& registry);

}  // namespace juniper
