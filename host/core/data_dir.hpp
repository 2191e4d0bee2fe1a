// The data folder: SQLite file, master key, log, juniper.conf (Odoo-style "key = value" lines).
#pragma once

#include "core/crypto.hpp"

#include <sys/types.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace juniper {

class DataDir {
 public:
  // Creates it (mode 0700) if missing. An existing one is made private: group and other bits
  // are taken off the folder and off juniper.db (-wal, -shm, -journal), juniper.log and
  // master.key (see permission_notes). juniper.conf is the administrator's: only reported.
  explicit DataDir(std::filesystem::path root);

  const std::filesystem::path& root() const noexcept { return root_; }
  std::filesystem::path sqlite_file() const { return root_ / "juniper.db"; }
  std::filesystem::path log_file() const { return root_ / "juniper.log"; }
  std::filesystem::path config_file() const { return root_ / "juniper.conf"; }

  // JUNIPER_MASTER_KEY (64 hex digits or base64 of 32 bytes) or <data>/master.key, created
  // with mode 0600 on first use.
  crypto::Bytes master_key() const;

  // juniper.conf; missing file = no options. Unknown keys are kept (forward compatible).
  // `spool_dir` defaults to the data folder.
  std::map<std::string, std::string> config() const;

  // What the constructor changed, or found and left (one sentence each), for the log once it is
  // open; empty when the folder was already private.
  const std::vector<std::string>& permission_notes() const noexcept { return notes_; }

 private:
  void make_private();

  std::filesystem::path root_;
  std::vector<std::string> notes_;
};

// While it lives, files and folders the process creates are private (umask 077): juniper.db is
// born 0600, and SQLite gives -wal and -shm the database file's mode. Process-wide: use it
// around start-up steps only, before other threads exist.
class PrivateUmask {
 public:
  PrivateUmask();
  ~PrivateUmask();
  PrivateUmask(const PrivateUmask&) = delete;
  PrivateUmask& operator=(const PrivateUmask&) = delete;

 private:
  mode_t old_;
};

std::string now_iso();  // "2026-11-25T13:44:56Z"

}  // namespace juniper
