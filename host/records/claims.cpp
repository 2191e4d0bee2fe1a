#include "records/claims.hpp"

#include "core/crypto.hpp"

namespace juniper::records {
namespace {

bool try_acquire(Database& db, const std::string& name, const std::string& token, std::int64_t until, std::int64_t now) {
  // One statement: insert, or take over an expired claim; 0 rows changed means someone holds it.
  soci::statement st = (db.session().prepare << "INSERT INTO juniper_claim (name, owner, until_unix) VALUES (:n, :o, :u) "
                                                "ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until_unix = "
                                                "excluded.until_unix WHERE juniper_claim.until_unix < :now",
                        soci::use(name), soci::use(token), soci::use(until), soci::use(now));
  st.execute(true);
  return st.get_affected_rows() >= 1;
}

}  // namespace

void ensure_claims_table(Database& db) {
  db.session() << "CREATE TABLE IF NOT EXISTS juniper_claim (name TEXT PRIMARY KEY, owner TEXT NOT NULL, until_unix " +
                      db.integer_type() + " NOT NULL)";
}

std::optional<std::string> claim_acquire(Database& db, const std::string& name, std::chrono::seconds hold,
                                         std::chrono::system_clock::time_point at) {
  auto lease = db.lock();
  const std::string token = crypto::random_token(12);
  const std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(at.time_since_epoch()).count();
  const std::int64_t until = now + hold.count();
  try {
    return try_acquire(db, name, token, until, now) ? std::optional(token) : std::nullopt;
  } catch (const soci::soci_error&) {
    if (db.table_exists("juniper_claim")) throw;
  }
  // A database initialised before claims existed: make the table (another process may be
  // making it at the same moment: its error is no error), then try again.
  try {
    ensure_claims_table(db);
  } catch (const soci::soci_error&) {
  }
  return try_acquire(db, name, token, until, now) ? std::optional(token) : std::nullopt;
}

void claim_release(Database& db, const std::string& name, const std::string& token) {
  auto lease = db.lock();
  db.session() << "DELETE FROM juniper_claim WHERE name = :n AND owner = :o", soci::use(name), soci::use(token);
}

}  // namespace juniper::records
