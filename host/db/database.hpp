// The database behind every record: SQLite (a file in the data folder, default) or PostgreSQL
// (by URL, for several processes). SOCI does the talking; this class hides which one it is.
#pragma once

#include <soci/soci.h>

#include <memory>
#include <mutex>
#include <set>
#include <string>

namespace juniper {

class DataDir;

class Database {
 public:
  // url empty: SQLite in the data folder; "postgresql://user@host:port/db": PostgreSQL;
  // "sqlite:///abs/path.db" or a path ending in .db: that SQLite file.
  static std::unique_ptr<Database> open(const std::string& url, const DataDir& data);

  bool is_postgres() const noexcept { return postgres_; }
  const std::string& display_name() const noexcept { return display_; }  // password masked

  // One session per process, used by one thread at a time: hold lock() around every use.
  soci::session& session() noexcept { return *session_; }
  // A PostgreSQL connection lost (server restarted) is re-opened here, at the next use: the
  // statement that saw it fail has failed, the next run works again.
  std::unique_lock<std::recursive_mutex> lock() {
    std::unique_lock l(mutex_);
    if (postgres_ && l.owns_lock() && !session_->is_connected()) reconnect();
    return l;
  }

  // Dialect pieces for generated DDL.
  std::string id_column() const;  // "id ... PRIMARY KEY"
  std::string integer_type() const { return postgres_ ? "BIGINT" : "INTEGER"; }

  bool table_exists(const std::string& table);
  std::set<std::string> tables();
  std::set<std::string> columns(const std::string& table);

 private:
  Database(std::unique_ptr<soci::session> s, bool postgres, std::string display);
  void reconnect() noexcept;

  std::unique_ptr<soci::session> session_;
  bool postgres_;
  std::string display_;
  std::recursive_mutex mutex_;
};

// A column name as SQL: quoted, so field names such as "user" or "date" (reserved in
// PostgreSQL) work on both backends. Names are checked [a-z][a-z0-9_]* at declaration.
inline std::string quote(const std::string& name) { return "\"" + name + "\""; }

// A transaction that rolls back unless committed (SOCI's, kept here so callers need one include).
using Transaction = soci::transaction;

}  // namespace juniper
