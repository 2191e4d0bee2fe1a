// Finds modules (manifests), checks them before running any of their code, installs and
// uninstalls them (one transaction each), and runs the installed ones: declare, start, stop.
#pragma once

#include "db/database.hpp"
#include "modules/declarations.hpp"
#include "modules/hook_bus.hpp"
#include "modules/manifest.hpp"
#include "records/env.hpp"

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>

namespace juniper::modules {

struct ModuleStatus {
  Manifest manifest;
  std::string state;    // "installed", "uninstalled"
  std::string problem;  // why it cannot be loaded or did not start; empty when fine
};

class ModuleManager {
 public:
  using BaseDeclarer = std::function<void(records::Registry&, HookBus&)>;

  ModuleManager(Database& db, const crypto::Bytes& key, std::vector<std::filesystem::path> paths, BaseDeclarer base);
  ~ModuleManager();  // stops started modules in reverse order (libraries stay mapped)
  ModuleManager(const ModuleManager&) = delete;
  ModuleManager& operator=(const ModuleManager&) = delete;

  static void ensure_tables(Database& db);

  // Loads, declares and starts the installed modules. One that fails is reported and skipped
  // (with its dependents); the others work.
  void boot();
  // Creates or extends every table of the registry in force (init / upgrade).
  void sync_schema();

  std::vector<ModuleStatus> list();
  // Display names of the loaded modules by name, from memory (no manifest read, no query).
  std::map<std::string, std::string> display_names() const;
  // Installed modules by name, from the database (no manifest read); needs a lease (Database::lock).
  std::vector<std::string> installed_names();
  void install(const std::vector<std::string>& names);
  void uninstall(const std::vector<std::string>& names);

  // The registry in force; install and uninstall swap in a new snapshot.
  std::shared_ptr<const records::Registry> registry() const;
  HookBus& hooks() noexcept { return hooks_; }
  std::vector<RouteDef> routes() const;  // of started modules
  records::Env env(records::User user = {});
  const std::vector<std::string>& boot_problems() const noexcept { return boot_problems_; }

 private:
  struct Loaded;

  std::map<std::string, Manifest> scan();
  // Dependency order of `names` and everything they need; throws on missing/cycle.
  std::vector<std::string> closure(const std::vector<std::string>& names, const std::map<std::string, Manifest>& all);
  Loaded& load(const Manifest& m);  // checks ABI and manifest agreement; throws UserError
  void declare(Loaded& mod, records::Registry& staged, const std::map<std::string, Manifest>& all);
  void start(Loaded& mod);
  void stop(Loaded& mod);
  void install_one(const std::string& name, const std::map<std::string, Manifest>& all);
  void uninstall_one(const std::string& name);

  Database& db_;
  const crypto::Bytes& key_;
  std::vector<std::filesystem::path> paths_;
  BaseDeclarer base_;
  void publish(std::shared_ptr<const records::Registry> next);

  // Install, uninstall and boot run one at a time; readers (env, list, routes) never wait on
  // the database work they do, only on the short swaps.
  mutable std::recursive_mutex admin_mu_;
  mutable std::mutex registry_mu_;
  std::shared_ptr<const records::Registry> registry_;
  HookBus hooks_;
  std::map<std::string, std::unique_ptr<Loaded>> loaded_;
  std::vector<std::string> start_order_;
  std::vector<std::string> boot_problems_;
  std::map<std::string, std::string> problems_;
};

}  // namespace juniper::modules
