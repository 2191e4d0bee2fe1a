#include "records/users.hpp"

#include "core/errors.hpp"

namespace juniper::records {

void ensure_users_table(Database& db) {
  db.session() << "CREATE TABLE IF NOT EXISTS res_users (" + db.id_column() +
                      ", login TEXT NOT NULL UNIQUE, password_hash TEXT NOT NULL, is_admin " + db.integer_type() +
                      " NOT NULL DEFAULT 0)";
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
