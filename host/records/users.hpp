// People who log in. Passwords are kept as scrypt hashes only.
#pragma once

#include "records/env.hpp"

namespace juniper::records {

void ensure_users_table(Database& db);
// Creates "admin" if missing; returns the generated password when it had to make one up.
std::optional<std::string> ensure_admin(Database& db);
void set_password(Database& db, std::string_view login, std::string_view password);
// Where the host mails a user (administrators: alerts when mail.alert.recipients is unset).
// Empty clears it.
void set_email(Database& db, std::string_view login, std::string_view email);
std::vector<std::string> admin_emails(Database& db);
std::optional<User> authenticate(Database& db, std::string_view login, std::string_view password);

// authenticate() in two steps, so the slow part (scrypt, ~0.1 s and 32 MB) runs without
// holding the database: read under the lock, check after releasing it.
struct StoredLogin {
  std::int64_t id = 0;
  std::string login;
  std::string password_hash;
  bool is_admin = false;
};
std::optional<StoredLogin> find_login(Database& db, std::string_view login);
// No database access. An unknown login (nullopt) costs the same scrypt as a known one.
std::optional<User> check_password(const std::optional<StoredLogin>& stored, std::string_view password);

}  // namespace juniper::records
