#include "db/database.hpp"

#include "core/data_dir.hpp"
#include "core/errors.hpp"
#include "core/log.hpp"

#include <soci/sqlite3/soci-sqlite3.h>

#include <libpq-fe.h>
#include <boost/dll/shared_library.hpp>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <regex>
#include <stdexcept>

namespace juniper {
namespace {

// PostgreSQL's SOCI backend and libpq are loaded when a postgresql:// URL is opened, not linked: a
// SQLite install never maps them, nor the Kerberos, LDAP and GnuTLS libraries libpq brings.
const boost::dll::shared_library& libpq() {
  static const boost::dll::shared_library lib("libpq.so.5", boost::dll::load_mode::search_system_folders);
  return lib;
}

// SOCI's PostgreSQL backend rewrites its connect string as key=value pairs and mangles URIs;
// libpq parses the URI for us into the keyword form SOCI passes through untouched.
std::string libpq_keywords(const std::string& url) {
  auto& parse = libpq().get<decltype(PQconninfoParse)>("PQconninfoParse");
  auto& free_options = libpq().get<decltype(PQconninfoFree)>("PQconninfoFree");
  auto& free_memory = libpq().get<decltype(PQfreemem)>("PQfreemem");
  char* err = nullptr;
  std::unique_ptr<PQconninfoOption, void (*)(PQconninfoOption*)> opts(parse(url.c_str(), &err), free_options);
  if (!opts) {
    const std::string why = err ? err : "unparsable";
    free_memory(err);
    throw UsageError("invalid PostgreSQL URL: " + why);
  }
  std::string out;
  for (auto* o = opts.get(); o->keyword != nullptr; ++o) {
    if (o->val == nullptr || *o->val == '\0') continue;
    std::string v = o->val;
    std::string quoted;
    for (char c : v) {
      if (c == '\\' || c == '\'') quoted.push_back('\\');
      quoted.push_back(c);
    }
    out += std::string(out.empty() ? "" : " ") + o->keyword + "='" + quoted + "'";
  }
  return out;
}

}  // namespace

namespace {

// Which connection each thread leased from which database, and how deep its leases nest.
struct Binding {
  Database* db;
  std::unique_ptr<soci::session> session;
  int depth;
};
thread_local std::vector<Binding> t_bindings;

Binding* binding_of(const Database* db) {
  for (auto& b : t_bindings) {
    if (b.db == db) return &b;
  }
  return nullptr;
}

std::size_t pool_size() {
  // The web threads, the scheduler and its parallel send lanes at once; opened only when needed.
  // At least 2: a send lane and the thread building its next message hold one each.
  if (const char* v = std::getenv("JUNIPER_DB_POOL"); v != nullptr && *v != '\0') {
    return std::clamp<std::size_t>(std::strtoul(v, nullptr, 10), 2, 64);
  }
  return 16;
}

}  // namespace

Database::Database(Connect connect, bool postgres, std::string display, std::size_t max)
    : connect_(std::move(connect)), postgres_(postgres), display_(std::move(display)), max_(max) {}

Database::~Database() = default;

Database::Lease::~Lease() {
  if (db_ == nullptr) return;
  Binding* b = binding_of(db_);
  if (b == nullptr || --b->depth > 0) return;
  auto s = std::move(b->session);
  std::erase_if(t_bindings, [this](const Binding& x) { return x.db == db_; });
  db_->release(std::move(s));
}

Database::Lease Database::lock() {
  if (Binding* b = binding_of(this)) {
    ++b->depth;
    return Lease(this);
  }
  auto s = acquire();
  t_bindings.push_back({this, std::move(s), 1});
  return Lease(this);
}

soci::session& Database::session() {
  Binding* b = binding_of(this);
  if (b == nullptr) throw std::logic_error("internal error: the database was used without a connection lease (lock())");
  return *b->session;
}

std::unique_ptr<soci::session> Database::acquire() {
  std::unique_lock l(mu_);
  freed_.wait(l, [this] { return !idle_.empty() || opened_ < max_; });
  if (!idle_.empty()) {
    auto s = std::move(idle_.back());
    idle_.pop_back();
    l.unlock();
    if (postgres_ && !s->is_connected()) reconnect(*s);
    return s;
  }
  ++opened_;
  l.unlock();
  try {
    return connect_();
  } catch (...) {
    {
      std::lock_guard g(mu_);
      --opened_;
    }
    freed_.notify_one();
    throw;
  }
}

void Database::release(std::unique_ptr<soci::session> s) noexcept {
  {
    std::lock_guard g(mu_);
    idle_.push_back(std::move(s));
  }
  freed_.notify_one();
}

std::size_t Database::open_connections() {
  std::lock_guard g(mu_);
  return opened_;
}

void Database::reconnect(soci::session& s) noexcept {
  try {
    s.reconnect();
    log::warning("db", "the connection to " + display_ + " was lost and has been re-opened");
  } catch (const std::exception& e) {
    log::error("db", "the connection to " + display_ + " is lost and cannot be re-opened yet: " + e.what());
  }
}

std::unique_ptr<Database> Database::open(const std::string& url, const DataDir& data) {
  const bool pg = url.starts_with("postgresql://") || url.starts_with("postgres://");
  std::string sqlite_path;
  if (!pg) {
    if (url.empty()) {
      sqlite_path = data.sqlite_file().string();
    } else if (url.starts_with("sqlite://")) {
      sqlite_path = url.substr(std::string_view("sqlite://").size());
    } else if (url.ends_with(".db") || url.ends_with(".sqlite")) {
      sqlite_path = url;
    } else {
      throw UsageError("unsupported database URL '" + url + "': use postgresql://user@host:port/dbname or a SQLite file path");
    }
  }
  const std::string display = pg ? std::regex_replace(url, std::regex(":[^:@/]*@"), ":***@") : sqlite_path;
  Connect connect;
  if (pg) {
    connect = [keywords = libpq_keywords(url)] {
      auto s = std::make_unique<soci::session>("postgresql", keywords);  // SOCI loads the backend
      *s << "SET client_min_messages TO WARNING";
      return s;
    };
  } else {
    connect = [sqlite_path] {
      auto s = std::make_unique<soci::session>(*soci::factory_sqlite3(), "db=\"" + sqlite_path + "\" timeout=30");
      // WAL: readers never block the writer, and a crash mid-write leaves the last commit intact.
      *s << "PRAGMA journal_mode=WAL";
      *s << "PRAGMA synchronous=NORMAL";
      *s << "PRAGMA foreign_keys=ON";
      return s;
    };
  }
  auto db = std::unique_ptr<Database>(new Database(std::move(connect), pg, display, pool_size()));
  try {
    auto first = db->lock();  // fails now, with the reason, rather than at the first query
  } catch (const soci::soci_error& e) {
    throw UserError("cannot open the database " + display + ": " + e.get_error_message());
  }
  return db;
}

std::recursive_timed_mutex* Database::write_gate(soci::session& s) {
  for (auto& b : t_bindings) {
    if (b.session.get() == &s) return b.db->postgres_ ? nullptr : &b.db->write_gate_;
  }
  return nullptr;
}

Transaction::Transaction(soci::session& s) : s_(s), sqlite_(s.get_backend_name() == "sqlite3") {
  if (sqlite_) {
    if (auto* gate = Database::write_gate(s)) {
      // The same bound as SQLite's own busy timeout (timeout=30 in the connect string).
      gate_ = std::unique_lock(*gate, std::chrono::seconds(30));
      if (!gate_.owns_lock()) throw soci::soci_error("database is locked: another write of this process took over 30 s");
    }
    s_ << "BEGIN IMMEDIATE";
  } else {
    s_.begin();
  }
}

Transaction::~Transaction() {
  if (!open_) return;
  try {
    rollback();
  } catch (...) {  // a lost connection has rolled back by itself
  }
}

void Transaction::commit() {
  open_ = false;
  if (sqlite_) {
    s_ << "COMMIT";
  } else {
    s_.commit();
  }
  end();
}

void Transaction::rollback() {
  open_ = false;
  if (sqlite_) {
    s_ << "ROLLBACK";
  } else {
    s_.rollback();
  }
  end();
}

void Transaction::end() {
  if (gate_.owns_lock()) gate_.unlock();
}

std::string Database::id_column() const {
  return postgres_ ? "id BIGSERIAL PRIMARY KEY" : "id INTEGER PRIMARY KEY AUTOINCREMENT";
}

bool Database::table_exists(const std::string& table) {
  int n = 0;
  if (postgres_) {
    session() << "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() "
                 "AND table_name = :t",
        soci::use(table), soci::into(n);
  } else {
    session() << "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = :t", soci::use(table), soci::into(n);
  }
  return n > 0;
}

std::set<std::string> Database::tables() {
  std::set<std::string> out;
  soci::rowset<std::string> rs =
      postgres_ ? (session().prepare << "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")
                : (session().prepare << "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'");
  for (const auto& t : rs) out.insert(t);
  return out;
}

std::set<std::string> Database::columns(const std::string& table) {
  std::set<std::string> out;
  soci::rowset<std::string> rs = postgres_ ? (session().prepare << "SELECT column_name FROM information_schema.columns WHERE "
                                                                   "table_schema = current_schema() AND table_name = :t",
                                              soci::use(table))
                                           : (session().prepare << "SELECT name FROM pragma_table_info(:t)", soci::use(table));
  for (const auto& c : rs) out.insert(c);
  return out;
}

}  // namespace juniper
