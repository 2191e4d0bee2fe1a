// Host-defined hooks. The host owns every Boost.Signals2 signal, slot and connection; a module
// only hands over a C function pointer and its opaque state (see plugin-sdk.md: signals2#78).
#pragma once

#include "records/env.hpp"

#include <juniper/sdk/c/juniper_registrar.h>

#include <memory>
#include <string>
#include <vector>

namespace juniper::modules {

enum class HookPolicy {
  notify,         // every handler runs; the first failure is reported
  first_handled,  // handlers run by priority until one answers (not JUNIPER_ERR_UNSUPPORTED)
  gather          // every handler runs; the answers come back as one JSON array (failures logged)
};

struct HookResult {
  juniper_status status = JUNIPER_ERR_UNSUPPORTED;  // UNSUPPORTED: nobody handled it
  std::string reply_json;
  std::string error;
  std::string module;  // who answered or failed
};

// Host hooks known to this version (name -> policy); modules may only connect to these.
std::optional<HookPolicy> hook_policy(std::string_view name);

class HookBus {
 public:
  HookBus();
  ~HookBus();
  HookBus(const HookBus&) = delete;
  HookBus& operator=(const HookBus&) = delete;

  // Connects a module handler; the connection is dropped by disconnect_module(module).
  void connect(const std::string& module, const juniper_hook_desc& desc);
  void disconnect_module(const std::string& module);

  HookResult emit(std::string_view hook, records::Env& env, const std::string& payload_json);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace juniper::modules
