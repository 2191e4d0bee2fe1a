// What one module declared, staged until the whole declare() succeeded.
#pragma once

#include "records/registry.hpp"

#include <juniper/sdk/c/juniper_registrar.h>

#include <set>
#include <string>
#include <vector>

namespace juniper::modules {

struct RouteDef {
  std::string module;
  std::string method;
  std::string path;
  juniper_route_auth auth = JUNIPER_AUTH_USER;
  bool csrf = false;
  bool network = false;  // waits on the network: run outside any transaction
  juniper_route_fn handler = nullptr;
  void* user = nullptr;
};

struct HookDecl {
  std::string hook;
  int32_t priority = 0;
  juniper_hook_fn handler = nullptr;
  void* user = nullptr;
};

struct Declarations {
  std::vector<RouteDef> routes;
  std::vector<HookDecl> hooks;
};

}  // namespace juniper::modules

// The registrar handle a module's declare() writes into.
struct juniper_registrar {
  std::string module;
  std::set<std::string> may_extend;  // owners whose types this module may extend: deps + base
  juniper::records::Registry* staged;
  juniper::modules::Declarations* decl;
};
