#include "modules/hook_bus.hpp"

#include "core/errors.hpp"
#include "core/log.hpp"
#include "modules/bridge.hpp"

#include <boost/signals2.hpp>
#include <nlohmann/json.hpp>

#include <map>
#include <mutex>
#include <stdexcept>

namespace juniper::modules {
namespace {

struct Call {
  records::Env& env;
  const std::string& payload;
};

// A host-side slot: the module's function pointer and opaque state, called with a host-owned
// context; never throws (the module's exceptions stop at its SDK guard, ours are caught here).
struct ModuleSlot {
  std::string module;
  juniper_hook_fn fn;
  void* user;

  HookResult operator()(Call& call) const {
    HookResult r;
    r.module = module;
    try {
      juniper_ctx ctx{&call.env, module};
      juniper_reply reply;
      ErrorBox box;
      r.status = fn(user, &ctx, str(call.payload), &reply, &box.err);
      r.reply_json = std::move(reply.json);
      r.error = std::move(box.message);
    } catch (const std::exception& e) {
      r.status = JUNIPER_ERR_INTERNAL;
      r.error = e.what();
    }
    return r;
  }
};

// Dereferencing a slot iterator calls the slot, so the combiner decides how far to go.
struct FirstHandled {
  using result_type = HookResult;
  template <class It>
  HookResult operator()(It first, It last) const {
    for (; first != last; ++first) {
      HookResult r = *first;
      if (r.status != JUNIPER_ERR_UNSUPPORTED) return r;
    }
    return {};
  }
};

struct NotifyAll {
  using result_type = HookResult;
  template <class It>
  HookResult operator()(It first, It last) const {
    HookResult out;
    out.status = JUNIPER_OK;
    for (; first != last; ++first) {
      HookResult r = *first;
      if (r.status != JUNIPER_OK && r.status != JUNIPER_ERR_UNSUPPORTED && out.status == JUNIPER_OK) out = r;
    }
    return out;
  }
};

// Every module contributes (warnings for the pages): one module's failure is logged and does not
// hide the others' answers.
struct GatherAll {
  using result_type = HookResult;
  template <class It>
  HookResult operator()(It first, It last) const {
    nlohmann::json answers = nlohmann::json::array();
    for (; first != last; ++first) {
      HookResult r = *first;
      if (r.status == JUNIPER_ERR_UNSUPPORTED) continue;
      try {
        if (r.status != JUNIPER_OK) throw std::runtime_error(r.error);
        answers.push_back(nlohmann::json::parse(r.reply_json));
      } catch (const std::exception& e) {
        log::warning("modules", "module " + r.module + " failed to answer a gathering hook: " + e.what());
      }
    }
    HookResult out;
    out.status = JUNIPER_OK;
    out.reply_json = answers.dump();
    return out;
  }
};

using FirstSignal = boost::signals2::signal<HookResult(Call&), FirstHandled, int>;
using GatherSignal = boost::signals2::signal<HookResult(Call&), GatherAll, int>;
using NotifySignal = boost::signals2::signal<HookResult(Call&), NotifyAll, int>;

const std::map<std::string, HookPolicy, std::less<>>& catalog() {
  static const std::map<std::string, HookPolicy, std::less<>> c = {
      {"record.changed", HookPolicy::notify},           // {"model","id","op"} after create/write/delete
      {"mail.transport", HookPolicy::first_handled},    // credentials for an outgoing server kind
      {"mail.deliver", HookPolicy::first_handled},      // one mail, by the module (juniper_mail.h)
      {"mail.check", HookPolicy::first_handled},        // Test Connection of a module-delivered server
      {"mail.refused", HookPolicy::first_handled},      // a refused SMTP login, explained by its module
      {"mail.collect", HookPolicy::first_handled},      // a fetch by the module (message_store)
      {"mail.fetch.login", HookPolicy::first_handled},  // credentials for an incoming server kind
      {"admin.warnings", HookPolicy::gather}            // what an administrator must act on soon
  };
  return c;
}

}  // namespace

std::optional<HookPolicy> hook_policy(std::string_view name) {
  const auto it = catalog().find(name);
  if (it == catalog().end()) return std::nullopt;
  return it->second;
}

struct HookBus::Impl {
  std::mutex mu;
  std::map<std::string, std::unique_ptr<FirstSignal>, std::less<>> first;
  std::map<std::string, std::unique_ptr<NotifySignal>, std::less<>> notify;
  std::map<std::string, std::unique_ptr<GatherSignal>, std::less<>> gather;
  std::multimap<std::string, boost::signals2::scoped_connection> connections;  // by module
};

HookBus::HookBus() : impl_(std::make_unique<Impl>()) {
  for (const auto& [name, policy] : catalog()) {
    if (policy == HookPolicy::first_handled) {
      impl_->first.emplace(name, std::make_unique<FirstSignal>());
    } else if (policy == HookPolicy::gather) {
      impl_->gather.emplace(name, std::make_unique<GatherSignal>());
    } else {
      impl_->notify.emplace(name, std::make_unique<NotifySignal>());
    }
  }
}

HookBus::~HookBus() = default;

void HookBus::connect(const std::string& module, const juniper_hook_desc& desc) {
  const std::string name = desc.hook ? desc.hook : "";
  if (!hook_policy(name)) throw UserError("module " + module + " connects to unknown hook '" + name + "'");
  if (desc.handler == nullptr) throw UserError("module " + module + " connects to " + name + " without a handler");
  std::lock_guard lock(impl_->mu);
  ModuleSlot slot{module, desc.handler, desc.user};
  boost::signals2::connection c;
  if (auto it = impl_->first.find(name); it != impl_->first.end()) {
    c = it->second->connect(desc.priority, slot);
  } else if (auto g = impl_->gather.find(name); g != impl_->gather.end()) {
    c = g->second->connect(desc.priority, slot);
  } else {
    c = impl_->notify.at(name)->connect(desc.priority, slot);
  }
  impl_->connections.emplace(module, boost::signals2::scoped_connection(c));
}

void HookBus::disconnect_module(const std::string& module) {
  std::lock_guard lock(impl_->mu);
  impl_->connections.erase(module);  // scoped_connection disconnects
}

HookResult HookBus::emit(std::string_view hook, records::Env& env, const std::string& payload_json) {
  Call call{env, payload_json};
  if (auto it = impl_->first.find(hook); it != impl_->first.end()) return (*it->second)(call);
  if (auto it = impl_->notify.find(hook); it != impl_->notify.end()) return (*it->second)(call);
  if (auto it = impl_->gather.find(hook); it != impl_->gather.end()) return (*it->second)(call);
  throw std::logic_error("unknown hook " + std::string(hook));
}

}  // namespace juniper::modules
