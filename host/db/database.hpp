// The database behind every record: SQLite (a file in the data folder, default) or PostgreSQL
// (by URL, for several processes). SOCI does the talking; this class hides which one it is.
//
// Connections come from a small pool: each thread leases one with lock() and uses it through
// session() until the lease ends, so a page, the mail scheduler and a token refresh each have
// their own connection and never wait on each other's network I/O. SQLite runs in WAL mode
// (readers never block the writer); write transactions take the write lock when they begin.
#pragma once

#include <soci/soci.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace juniper {

class DataDir;

class Database {
 public:
  // url empty: SQLite in the data folder; "postgresql://user@host:port/db": PostgreSQL;
  // "sqlite:///abs/path.db" or a path ending in .db: that SQLite file.
  static std::unique_ptr<Database> open(const std::string& url, const DataDir& data);
  ~Database();

  bool is_postgres() const noexcept { return postgres_; }
  const std::string& display_name() const noexcept { return display_; }  // password masked

  // This thread's connection for as long as the lease lives. Leases nest on one thread (an
  // inner lock() reuses the outer connection), so callers need not know who locked before them.
  class Lease {
   public:
    Lease(Lease&& other) noexcept : db_(std::exchange(other.db_, nullptr)) {}
    Lease& operator=(Lease&&) = delete;
    ~Lease();

   private:
    friend class Database;
    explicit Lease(Database* db) : db_(db) {}
    Database* db_;
  };
  // Waits for a free connection when all `max_connections` are leased. A PostgreSQL connection
  // lost (server restarted) is re-opened here: the statement that saw it fail has failed, the
  // next lease works again.
  [[nodiscard]] Lease lock();
  // The calling thread's leased connection; throws std::logic_error without a lease.
  soci::session& session();

  // Dialect pieces for generated DDL.
  std::string id_column() const;  // "id ... PRIMARY KEY"
  std::string integer_type() const { return postgres_ ? "BIGINT" : "INTEGER"; }

  bool table_exists(const std::string& table);
  std::set<std::string> tables();
  std::set<std::string> columns(const std::string& table);

  std::size_t max_connections() const noexcept { return max_; }
  std::size_t open_connections();  // opened so far (idle or leased)

 private:
  friend class Transaction;
  // SQLite admits one writer at a time and makes the others sleep and poll (1, 2, 5, 10 ms...);
  // this process's writers queue here instead and wake the moment the writer before them ends.
  // Null for PostgreSQL and for a session not leased from a Database on this thread.
  static std::recursive_timed_mutex* write_gate(soci::session& s);

  using Connect = std::function<std::unique_ptr<soci::session>()>;
  Database(Connect connect, bool postgres, std::string display, std::size_t max);
  std::unique_ptr<soci::session> acquire();
  void release(std::unique_ptr<soci::session> s) noexcept;
  void reconnect(soci::session& s) noexcept;

  Connect connect_;
  bool postgres_;
  std::string display_;
  std::size_t max_;
  std::mutex mu_;
  std::condition_variable freed_;
  std::vector<std::unique_ptr<soci::session>> idle_;
  std::size_t opened_ = 0;
  std::recursive_timed_mutex write_gate_;
};

// A column name as SQL: quoted, so field names such as "user" or "date" (reserved in
// PostgreSQL) work on both backends. Names are checked [a-z][a-z0-9_]* at declaration.
inline std::string quote(const std::string& name) { return "\"" + name + "\""; }

// A transaction that rolls back unless committed. On SQLite it begins IMMEDIATE: it takes the
// write lock at once (waiting up to the busy timeout) instead of failing with "database is
// locked" when a read inside it later turns into a write while another connection writes.
// Its writers first pass this process's write gate (Database::write_gate), held until the end.
class Transaction {
 public:
  explicit Transaction(soci::session& s);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit();
  void rollback();

 private:
  void end();

  soci::session& s_;
  bool sqlite_;
  bool open_ = true;
  std::unique_lock<std::recursive_timed_mutex> gate_;
};

}  // namespace juniper
