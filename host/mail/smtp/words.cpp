#include "core/errors.hpp"
#include "mail/smtp/session.hpp"

namespace juniper::mail::smtp {

Security parse_security(std::string_view word) {
  if (word == "none") return Security::none;
  if (word == "starttls") return Security::starttls;
  if (word == "ssl") return Security::ssl;
  throw UserError("unknown connection security \"" + std::string(word) + "\" (none, starttls or ssl)");
}

AuthKind parse_auth(std::string_view word) {
  if (word == "none") return AuthKind::none;
  if (word == "password") return AuthKind::password;
  if (word == "xoauth2") return AuthKind::xoauth2;
  throw UserError("unknown authentication \"" + std::string(word) + "\" (none, password or xoauth2)");
}

}  // namespace juniper::mail::smtp
