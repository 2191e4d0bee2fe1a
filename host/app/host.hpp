// The composition root: data folder, database, master key and modules, in the order they need
// each other. The CLI and `serve` both start from one Host.
#pragma once

#include "core/data_dir.hpp"
#include "db/database.hpp"
#include "modules/module_manager.hpp"

#include <memory>

namespace juniper {

struct HostOptions {
  std::filesystem::path data_dir;
  std::string db_url;
  std::vector<std::filesystem::path> module_paths;
  bool log_to_stderr = false;
};

class Host {
 public:
  explicit Host(HostOptions options);  // opens everything; modules are not booted yet
  ~Host();

  // Creates or upgrades the schema (idempotent). Returns the admin password when it made one.
  std::optional<std::string> init();
  // Loads and starts the installed modules (refuses when the database was never initialised).
  void boot();

  DataDir& data() noexcept { return data_; }
  Database& db() noexcept { return *db_; }
  modules::ModuleManager& modules() noexcept { return *modules_; }
  // An Env whose writes reach the modules (record.changed) and, for an edit of an outgoing
  // server's settings, release the mails waiting on that server (the fix may be that edit).
  records::Env env(records::User user = {});

  static std::vector<std::filesystem::path> default_module_paths();

 private:
  HostOptions options_;
  DataDir data_;
  crypto::Bytes key_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<modules::ModuleManager> modules_;
};

}  // namespace juniper
