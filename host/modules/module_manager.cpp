#include "modules/module_manager.hpp"

#include "core/errors.hpp"
#include "core/log.hpp"
#include "modules/bridge.hpp"
#include "records/schema_sync.hpp"

#include <boost/dll/shared_library.hpp>

#include <unistd.h>

#include <algorithm>
#include <set>

namespace juniper::modules {
namespace fs = std::filesystem;

struct ModuleManager::Loaded {
  Manifest manifest;
  boost::dll::shared_library library;               // kept until exit: modules are never unloaded
  juniper_module_descriptor descriptor{};           // the host's copy, zero-extended
  const juniper_module_descriptor* desc = nullptr;  // &descriptor once every check passed
  Declarations decl;
  bool started = false;
};

namespace {

std::string abi(unsigned major, unsigned minor) { return std::to_string(major) + "." + std::to_string(minor); }

std::vector<std::string> descriptor_depends(const juniper_module_descriptor* d) {
  std::vector<std::string> out;
  for (auto p = d->depends; p != nullptr && *p != nullptr; ++p) out.emplace_back(*p);
  return out;
}

// The checks that need only the manifest: made before the library is even opened.
void check_manifest_abi(const Manifest& m) {
  if (m.abi_major != JUNIPER_ABI_MAJOR) {
    throw UserError("module " + m.name + " " + m.version + " was built for module ABI " + abi(m.abi_major, m.abi_minor) +
                    ", but this juniper offers ABI " + abi(JUNIPER_ABI_MAJOR, JUNIPER_ABI_MINOR) +
                    ": rebuild the module against this SDK");
  }
  if (m.abi_minor > JUNIPER_ABI_MINOR) {
    throw UserError("module " + m.name + " " + m.version + " needs module ABI " + abi(m.abi_major, m.abi_minor) +
                    ", newer than this juniper's ABI " + abi(JUNIPER_ABI_MAJOR, JUNIPER_ABI_MINOR) + ": upgrade juniper");
  }
}

}  // namespace

ModuleManager::ModuleManager(Database& db, const crypto::Bytes& key, std::vector<fs::path> paths, BaseDeclarer base)
    : db_(db), key_(key), paths_(std::move(paths)), base_(std::move(base)) {
  records::Registry base_types;
  if (base_) base_(base_types, hooks_);
  registry_ = std::make_shared<const records::Registry>(std::move(base_types));
}

std::shared_ptr<const records::Registry> ModuleManager::registry() const {
  std::lock_guard g(registry_mu_);
  return registry_;
}

void ModuleManager::publish(std::shared_ptr<const records::Registry> next) {
  std::lock_guard g(registry_mu_);
  registry_ = std::move(next);
}

ModuleManager::~ModuleManager() {
  for (auto it = start_order_.rbegin(); it != start_order_.rend(); ++it) {
    if (auto l = loaded_.find(*it); l != loaded_.end()) stop(*l->second);
  }
}

void ModuleManager::ensure_tables(Database& db) {
  db.session() << "CREATE TABLE IF NOT EXISTS ir_module_module (name TEXT PRIMARY KEY, state TEXT NOT NULL, "
                  "installed_version TEXT)";
  // What each module added to the schema, so uninstall can drop exactly that.
  db.session() << "CREATE TABLE IF NOT EXISTS juniper_module_data (module TEXT NOT NULL, kind TEXT NOT NULL, "
                  "model TEXT NOT NULL, name TEXT NOT NULL)";
}

std::map<std::string, Manifest> ModuleManager::scan() {
  std::vector<std::string> problems;
  std::map<std::string, Manifest> out;
  for (auto& m : scan_manifests(paths_, problems)) out.emplace(m.name, std::move(m));
  for (const auto& p : problems) log::warning("modules", p);
  return out;
}

std::vector<std::string> ModuleManager::installed_names() {
  std::vector<std::string> out;
  soci::rowset<std::string> rs =
      (db_.session().prepare << "SELECT name FROM ir_module_module WHERE state = 'installed' ORDER BY name");
  for (const auto& n : rs) out.push_back(n);
  return out;
}

std::vector<std::string> ModuleManager::closure(const std::vector<std::string>& names,
                                                const std::map<std::string, Manifest>& all) {
  std::vector<std::string> order;
  std::set<std::string> done;
  std::vector<std::string> path;
  std::function<void(const std::string&, const std::string&)> visit = [&](const std::string& n, const std::string& by) {
    if (done.contains(n)) return;
    if (const auto it = std::find(path.begin(), path.end(), n); it != path.end()) {
      std::string cycle;
      for (auto p = it; p != path.end(); ++p) cycle += *p + " -> ";
      throw UserError("modules form a dependency cycle: " + cycle + n + "; nothing was installed");
    }
    const auto m = all.find(n);
    if (m == all.end()) {
      throw UserError(by.empty() ? "module '" + n + "' is not available in the modules path"
                                 : "module " + by + " depends on '" + n + "', which is not available in the modules path");
    }
    path.push_back(n);
    for (const auto& d : m->second.depends) visit(d, n);
    path.pop_back();
    done.insert(n);
    order.push_back(n);
  };
  for (const auto& n : names) visit(n, "");
  return order;
}

ModuleManager::Loaded& ModuleManager::load(const Manifest& m) {
  if (auto it = loaded_.find(m.name); it != loaded_.end()) return *it->second;
  check_manifest_abi(m);
  auto mod = std::make_unique<Loaded>();
  mod->manifest = m;
  // Path, ownership and modes first: a refused library is never opened, so none of its code runs.
  const fs::path lib = checked_library(m, ::geteuid());
  boost::dll::fs::error_code ec;
  mod->library.load(lib.string(), ec, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
  if (ec) throw UserError("module " + m.name + ": cannot load " + lib.string() + ": " + ec.message());
  if (!mod->library.has(JUNIPER_MODULE_ENTRY_SYMBOL)) {
    throw UserError("module " + m.name + ": " + lib.string() +
                    " does not export " JUNIPER_MODULE_ENTRY_SYMBOL " (not a juniper module, or built for another ABI major)");
  }
  auto& entry = mod->library.get<const juniper_module_descriptor*()>(JUNIPER_MODULE_ENTRY_SYMBOL);
  mod->descriptor = module_descriptor(entry(), m.name);
  const juniper_module_descriptor* d = &mod->descriptor;
  auto mismatch = [&](const std::string& what, const std::string& says, const std::string& man) {
    return UserError("module " + m.name + ": the library says " + what + " " + says + " but its manifest " + m.file.string() +
                     " says " + man + "; reinstall the module files");
  };
  if (d->abi_major != m.abi_major || d->abi_minor != m.abi_minor) {
    throw mismatch("ABI", abi(d->abi_major, d->abi_minor), abi(m.abi_major, m.abi_minor));
  }
  if (d->name == nullptr || m.name != d->name) throw mismatch("name", d->name ? d->name : "(none)", m.name);
  if (d->version == nullptr || m.version != d->version) throw mismatch("version", d->version ? d->version : "(none)", m.version);
  auto deps = descriptor_depends(d);
  auto mdeps = m.depends;
  std::sort(deps.begin(), deps.end());
  std::sort(mdeps.begin(), mdeps.end());
  if (deps != mdeps) {
    auto join = [](const std::vector<std::string>& v) {
      std::string s;
      for (const auto& x : v) s += (s.empty() ? "" : ",") + x;
      return "[" + s + "]";
    };
    throw mismatch("depends", join(deps), join(mdeps));
  }
  if (d->declare == nullptr || d->start == nullptr || d->stop == nullptr) {
    throw UserError("module " + m.name + ": the descriptor lacks declare, start or stop");
  }
  mod->desc = d;
  auto& ref = *mod;
  loaded_.emplace(m.name, std::move(mod));
  return ref;
}

void ModuleManager::declare(Loaded& mod, records::Registry& staged, const std::map<std::string, Manifest>& all) {
  juniper_registrar reg;
  reg.module = mod.manifest.name;
  reg.may_extend = {"base"};
  std::function<void(const std::string&)> add = [&](const std::string& n) {
    const auto it = all.find(n);
    if (it == all.end()) return;
    for (const auto& d : it->second.depends) {
      if (reg.may_extend.insert(d).second) add(d);
    }
  };
  add(reg.module);
  Declarations decl;
  reg.staged = &staged;
  reg.decl = &decl;
  ErrorBox box;
  const juniper_status st = mod.desc->declare(host_api(), &reg, &box.err);
  throw_if_failed(st, box, reg.module, "declare");
  mod.decl = std::move(decl);
}

void ModuleManager::start(Loaded& mod) {
  if (mod.started) return;
  auto env = this->env();
  juniper_ctx ctx{&env, mod.manifest.name};
  ErrorBox box;
  throw_if_failed(mod.desc->start(host_api(), &ctx, &box.err), box, mod.manifest.name, "start");
  for (const auto& h : mod.decl.hooks) {
    juniper_hook_desc d{sizeof d, h.hook.c_str(), h.priority, h.handler, h.user};
    hooks_.connect(mod.manifest.name, d);
  }
  mod.started = true;
  start_order_.push_back(mod.manifest.name);
}

void ModuleManager::stop(Loaded& mod) {
  if (!mod.started) return;
  hooks_.disconnect_module(mod.manifest.name);
  mod.desc->stop();
  mod.started = false;
  std::erase(start_order_, mod.manifest.name);
}

records::Env ModuleManager::env(records::User user) {
  records::Env e(db_, registry(), key_, std::move(user));
  e.on_change = [this](records::Env& env, const std::string& model, std::int64_t id, std::string_view op,
                       const nlohmann::json& values) {
    nlohmann::json fields = nlohmann::json::array();
    for (const auto& [name, v] : values.items()) fields.push_back(name);
    const std::string payload = nlohmann::json{{"model", model}, {"id", id}, {"op", op}, {"fields", fields}}.dump();
    const auto r = hooks_.emit("record.changed", env, payload);
    if (r.status != JUNIPER_OK && r.status != JUNIPER_ERR_UNSUPPORTED) {
      throw UserError(r.error.empty() ? "refused by module " + r.module : r.error);
    }
  };
  return e;
}

void ModuleManager::boot() {
  std::lock_guard admin(admin_mu_);
  const auto all = scan();
  std::vector<std::string> wanted = installed_names();
  std::vector<std::string> order;
  for (const auto& n : wanted) {
    try {
      for (const auto& x : closure({n}, all)) {
        if (std::find(order.begin(), order.end(), x) == order.end()) order.push_back(x);
      }
    } catch (const UserError& e) {
      problems_[n] = e.what();
    }
  }
  std::set<std::string> failed;
  for (const auto& n : order) {
    const auto& m = all.at(n);
    const bool dep_failed = std::any_of(m.depends.begin(), m.depends.end(), [&](const auto& d) { return failed.contains(d); });
    try {
      if (dep_failed) throw UserError("module " + n + " is not started because a module it depends on failed");
      records::Registry staged = *registry();
      auto& mod = load(m);
      declare(mod, staged, all);
      publish(std::make_shared<const records::Registry>(std::move(staged)));
      start(mod);
    } catch (const std::exception& e) {
      failed.insert(n);
      problems_[n] = e.what();
    }
  }
  for (const auto& [n, p] : problems_) {
    log::error("modules", p);
    boot_problems_.push_back(p);
  }
}

void ModuleManager::sync_schema() {
  const auto reg = registry();
  for (const auto& [name, type] : reg->types()) records::sync_table(db_, type);
}

std::map<std::string, std::string> ModuleManager::display_names() const {
  std::lock_guard admin(admin_mu_);
  std::map<std::string, std::string> out;
  for (const auto& [name, mod] : loaded_) out[name] = mod->manifest.display_name;
  return out;
}

std::vector<ModuleStatus> ModuleManager::list() {
  std::lock_guard admin(admin_mu_);
  const auto all = scan();
  std::map<std::string, std::string> states;
  soci::rowset<soci::row> rs = (db_.session().prepare << "SELECT name, state FROM ir_module_module");
  for (const auto& r : rs) states[r.get<std::string>(0)] = r.get<std::string>(1);
  std::vector<ModuleStatus> out;
  for (const auto& [name, m] : all) {
    ModuleStatus s{m, states.contains(name) ? states[name] : "uninstalled", {}};
    if (auto p = problems_.find(name); p != problems_.end()) s.problem = p->second;
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<RouteDef> ModuleManager::routes() const {
  std::lock_guard admin(admin_mu_);
  std::vector<RouteDef> out;
  for (const auto& n : start_order_) {
    const auto& d = loaded_.at(n)->decl.routes;
    out.insert(out.end(), d.begin(), d.end());
  }
  return out;
}

void ModuleManager::install(const std::vector<std::string>& names) {
  std::lock_guard admin(admin_mu_);
  const auto all = scan();
  const auto order = closure(names, all);  // refuses missing modules and cycles before any work
  const auto installed = installed_names();
  for (const auto& n : order) {
    if (std::find(installed.begin(), installed.end(), n) != installed.end() && loaded_.contains(n) && loaded_.at(n)->started) {
      continue;
    }
    install_one(n, all);
  }
}

void ModuleManager::install_one(const std::string& name, const std::map<std::string, Manifest>& all) {
  const Manifest& m = all.at(name);
  Loaded& mod = load(m);
  auto staged = std::make_shared<records::Registry>(*registry());
  declare(mod, *staged, all);
  {
    Transaction tr(db_.session());
    for (const auto& [tname, type] : staged->types()) {
      records::sync_table(db_, type);
      for (const auto& f : type.fields) {
        if (f.owner != name || type.owner == name) continue;
        db_.session() << "INSERT INTO juniper_module_data (module, kind, model, name) VALUES (:m, 'field', :t, :f)",
            soci::use(name), soci::use(type.name), soci::use(f.name);
      }
      if (type.owner == name) {
        db_.session() << "INSERT INTO juniper_module_data (module, kind, model, name) VALUES (:m, 'model', :t, :t2)",
            soci::use(name), soci::use(type.name), soci::use(type.name);
      }
    }
    db_.session() << "DELETE FROM ir_module_module WHERE name = :n", soci::use(name);
    db_.session() << "INSERT INTO ir_module_module (name, state, installed_version) VALUES (:n, 'installed', :v)",
        soci::use(name), soci::use(m.version);
    if (mod.desc->install != nullptr) {
      records::Env env(db_, *staged, key_);
      juniper_ctx ctx{&env, name};
      ErrorBox box;
      throw_if_failed(mod.desc->install(&ctx, &box.err), box, name, "install");
    }
    tr.commit();
  }
  publish(std::move(staged));
  problems_.erase(name);
  start(mod);
  log::info("modules", "installed " + name + " " + m.version);
}

void ModuleManager::uninstall(const std::vector<std::string>& names) {
  std::lock_guard admin(admin_mu_);
  const auto all = scan();
  const auto installed = installed_names();
  for (const auto& n : names) {
    if (std::find(installed.begin(), installed.end(), n) == installed.end()) {
      throw UserError("module '" + n + "' is not installed");
    }
  }
  // Dependents go first (Odoo's cascade): every installed module that needs one of `names`.
  std::vector<std::string> order;
  std::function<void(const std::string&)> visit = [&](const std::string& n) {
    if (std::find(order.begin(), order.end(), n) != order.end()) return;
    for (const auto& other : installed) {
      const auto it = all.find(other);
      if (it != all.end() && std::find(it->second.depends.begin(), it->second.depends.end(), n) != it->second.depends.end()) {
        visit(other);
      }
    }
    order.push_back(n);
  };
  for (const auto& n : names) visit(n);
  for (const auto& n : order) uninstall_one(n);
}

void ModuleManager::uninstall_one(const std::string& name) {
  Loaded* mod = loaded_.contains(name) ? loaded_.at(name).get() : nullptr;
  const auto reg = registry();
  {
    Transaction tr(db_.session());
    auto env = this->env();
    if (mod != nullptr && mod->started && mod->desc->uninstall != nullptr) {
      juniper_ctx ctx{&env, name};
      ErrorBox box;
      throw_if_failed(mod->desc->uninstall(&ctx, &box.err), box, name, "uninstall");
    }
    // Records holding a selection value of this module get the fallback back.
    for (const auto& [tname, type] : reg->types()) {
      for (const auto& fb : type.selection_fallbacks) {
        if (fb.owner != name) continue;
        for (const auto& v : fb.values) {
          db_.session() << "UPDATE " + type.table() + " SET " + quote(fb.field) + " = :fb WHERE " + quote(fb.field) + " = :v",
              soci::use(fb.fallback), soci::use(v);
        }
      }
    }
    soci::rowset<soci::row> rs =
        (db_.session().prepare << "SELECT kind, model, name FROM juniper_module_data WHERE module = :m", soci::use(name));
    std::vector<std::tuple<std::string, std::string, std::string>> owned;
    for (const auto& r : rs) owned.emplace_back(r.get<std::string>(0), r.get<std::string>(1), r.get<std::string>(2));
    for (const auto& [kind, model, field] : owned) {
      std::string table = model;
      std::replace(table.begin(), table.end(), '.', '_');
      if (kind == "field") records::drop_column(db_, table, field);
      if (kind == "model") records::drop_table(db_, table);
    }
    for (const auto& s : reg->settings()) {
      if (s.owner == name) db_.session() << "DELETE FROM ir_config_parameter WHERE key = :k", soci::use(s.config_parameter);
    }
    db_.session() << "DELETE FROM juniper_module_data WHERE module = :m", soci::use(name);
    db_.session() << "UPDATE ir_module_module SET state = 'uninstalled' WHERE name = :n", soci::use(name);
    tr.commit();
  }
  if (mod != nullptr) stop(*mod);
  auto next = std::make_shared<records::Registry>(*reg);
  next->remove_owner(name);
  publish(std::move(next));
  log::info("modules", "uninstalled " + name);
}

}  // namespace juniper::modules
