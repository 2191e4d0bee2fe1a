// The data folder: SQLite file, master key, log, juniper.conf (Odoo-style "key = value" lines).
#pragma once

#include "core/crypto.hpp"

#include <filesystem>
#include <map>
#include <string>

namespace juniper {

class DataDir {
 public:
  explicit DataDir(std::filesystem::path root);  // creates it (mode 0700) if missing

  const std::filesystem::path& root() const noexcept { return root_; }
  std::filesystem::path sqlite_file() const { return root_ / "juniper.db"; }
  std::filesystem::path log_file() const { return root_ / "juniper.log"; }
  std::filesystem::path config_file() const { return root_ / "juniper.conf"; }

  // JUNIPER_MASTER_KEY (64 hex digits or base64 of 32 bytes) or <data>/master.key, created
  // with mode 0600 on first use.
  crypto::Bytes master_key() const;

  // juniper.conf; missing file = no options. Unknown keys are kept (forward compatible).
  std::map<std::string, std::string> config() const;

 private:
  std::filesystem::path root_;
};

std::string now_iso();  // "2026-11-25T13:44:56Z"

}  // namespace juniper
