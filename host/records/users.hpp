// People who log in. Passwords are kept as scrypt hashes only.
#pragma once

#include "records/env.hpp"

namespace juniper::records {

void ensure_users_table(Database& db);
// Creates "admin" if missing; returns the generated password when it had to make one up.
std::optional<std::string> ensure_admin(Database& db);
void set_password(Database& db, std::string_view login, std::string_view password);
std::optional<User> authenticate(Database& db, std::string_view login, std::string_view password);

}  // namespace juniper::records
