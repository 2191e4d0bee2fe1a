#include "records/users.hpp"

#include "core/errors.hpp"

#include <algorithm>

namespace juniper::records {

void ensure_users_table(Database& db) {
  db.session() << "CREATE TABLE IF NOT EXISTS res_users (" + db.id_column() +
                      ", login TEXT NOT NULL UNIQUE, password_hash TEXT NOT NULL, is_admin " + db.integer_type() +
                      " NOT NULL DEFAULT 0)";
  const auto columns = db.columns("res_users");
  if (std::find(columns.begin(), columns.end(), "email") == columns.end()) {
    db.session() << "ALTER TABLE res_users ADD COLUMN email TEXT";  // databases made before alerts
  }
}

std::optional<std::string> ensure_admin(Database& db) {
  int n = 0;
  db.session() << "SELECT COUNT(*) FROM res_users WHERE login = 'admin'", soci::into(n);
  if (n > 0) return std::nullopt;
  const std::string password = crypto::random_token(12);
  const std::string hash = crypto::hash_password(password);
  db.session() << "INSERT INTO res_users (login, password_hash, is_admin) VALUES ('admin', :h, 1)", soci::use(hash);
  return password;
}

void set_password(Database& db, std::string_view login, std::string_view password) {
  if (password.size() < 8) throw UserError("the password must have at least 8 characters");
  const std::string l(login);
  int n = 0;
  db.session() << "SELECT COUNT(*) FROM res_users WHERE login = :l", soci::use(l), soci::into(n);
  if (n == 0) throw UserError("no user with login '" + l + "'");
  const std::string hash = crypto::hash_password(password);
  db.session() << "UPDATE res_users SET password_hash = :h WHERE login = :l", soci::use(hash), soci::use(l);
}

void set_email(Database& db, std::string_view login, std::string_view email) {
  // A sanity check only: the address is parsed for real when a mail is sent to it.
  if (!email.empty() &&
      (email.find('@') == std::string_view::npos || email.find_first_of(" ,;<>\r\n\t") != std::string_view::npos)) {
    throw UserError("'" + std::string(email.substr(0, 200)) + "' is not one email address");
  }
  const std::string l(login);
  const std::string e(email);
  int n = 0;
  db.session() << "SELECT COUNT(*) FROM res_users WHERE login = :l", soci::use(l), soci::into(n);
  if (n == 0) throw UserError("no user with login '" + l + "'");
  soci::indicator ind = e.empty() ? soci::i_null : soci::i_ok;
  db.session() << "UPDATE res_users SET email = :e WHERE login = :l", soci::use(e, ind), soci::use(l);
}

std::vector<std::string> admin_emails(Database& db) {
  std::vector<std::string> out;
  soci::rowset<soci::row> rows = (db.session().prepare << "SELECT email FROM res_users WHERE is_admin = 1 AND email IS NOT NULL "
                                                          "AND email <> '' ORDER BY id");
  for (const auto& r : rows) out.push_back(r.get<std::string>(0));
  return out;
}

std::optional<User> authenticate(Database& db, std::string_view login, std::string_view password) {
  return check_password(find_login(db, login), password);
}

std::optional<StoredLogin> find_login(Database& db, std::string_view login) {
  StoredLogin s;
  s.login = std::string(login);
  long long id = 0;
  int admin = 0;
  db.session() << "SELECT id, password_hash, is_admin FROM res_users WHERE login = :l", soci::use(s.login), soci::into(id),
      soci::into(s.password_hash), soci::into(admin);
  if (!db.session().got_data()) return std::nullopt;
  s.id = id;
  s.is_admin = admin != 0;
  return s;
}

std::optional<User> check_password(const std::optional<StoredLogin>& stored, std::string_view password) {
  if (!stored) {
    crypto::verify_password(password, "scrypt$AAAAAAAAAAAAAAAAAAAAAA==$x");  // same cost for unknown logins
    return std::nullopt;
  }
  if (!crypto::verify_password(password, stored->password_hash)) return std::nullopt;
  return User{stored->id, stored->login, stored->is_admin};
}

}  // namespace juniper::records
