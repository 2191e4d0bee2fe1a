#include "db/database.hpp"

#include "core/data_dir.hpp"
#include "core/errors.hpp"
#include "core/log.hpp"

#include <soci/postgresql/soci-postgresql.h>
#include <soci/sqlite3/soci-sqlite3.h>

#include <libpq-fe.h>

#include <memory>
#include <regex>

namespace juniper {
namespace {

// SOCI's PostgreSQL backend rewrites its connect string as key=value pairs and mangles URIs;
// libpq parses the URI for us into the keyword form SOCI passes through untouched.
std::string libpq_keywords(const std::string& url) {
  char* err = nullptr;
  std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)> opts(PQconninfoParse(url.c_str(), &err), PQconninfoFree);
  if (!opts) {
    const std::string why = err ? err : "unparsable";
    PQfreemem(err);
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

Database::Database(std::unique_ptr<soci::session> s, bool postgres, std::string display)
    : session_(std::move(s)), postgres_(postgres), display_(std::move(display)) {}

void Database::reconnect() noexcept {
  try {
    session_->reconnect();
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
      throw UsageError("unsupported database URL '" + url +
                       "': use postgresql://user@host:port/dbname or a SQLite file path");
    }
  }
  const std::string display = pg ? std::regex_replace(url, std::regex(":[^:@/]*@"), ":***@") : sqlite_path;
  try {
    std::unique_ptr<soci::session> s;
    if (pg) {
      s = std::make_unique<soci::session>(*soci::factory_postgresql(), libpq_keywords(url));
      *s << "SET client_min_messages TO WARNING";
    } else {
      s = std::make_unique<soci::session>(*soci::factory_sqlite3(), "db=\"" + sqlite_path + "\" timeout=30");
      // WAL: readers never block the writer, and a crash mid-write leaves the last commit intact.
      *s << "PRAGMA journal_mode=WAL";
      *s << "PRAGMA synchronous=NORMAL";
      *s << "PRAGMA foreign_keys=ON";
    }
    return std::unique_ptr<Database>(new Database(std::move(s), pg, display));
  } catch (const soci::soci_error& e) {
    throw UserError("cannot open the database " + display + ": " + e.get_error_message());
  }
}

std::string Database::id_column() const {
  return postgres_ ? "id BIGSERIAL PRIMARY KEY" : "id INTEGER PRIMARY KEY AUTOINCREMENT";
}

bool Database::table_exists(const std::string& table) {
  int n = 0;
  if (postgres_) {
    *session_ << "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() "
                 "AND table_name = :t",
        soci::use(table), soci::into(n);
  } else {
    *session_ << "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = :t", soci::use(table),
        soci::into(n);
  }
  return n > 0;
}

std::set<std::string> Database::tables() {
  std::set<std::string> out;
  soci::rowset<std::string> rs =
      postgres_ ? (session_->prepare << "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")
                : (session_->prepare << "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'");
  for (const auto& t : rs) out.insert(t);
  return out;
}

std::set<std::string> Database::columns(const std::string& table) {
  std::set<std::string> out;
  soci::rowset<std::string> rs =
      postgres_ ? (session_->prepare << "SELECT column_name FROM information_schema.columns WHERE "
                                        "table_schema = current_schema() AND table_name = :t",
                   soci::use(table))
                : (session_->prepare << "SELECT name FROM pragma_table_info(:t)", soci::use(table));
  for (const auto& c : rs) out.insert(c);
  return out;
}

}  // namespace juniper
