#include "app/base_declarations.hpp"

namespace juniper {

void declare_base(records::Registry& /*registry*/) {
  // The mail core (ir.mail_server, fetchmail.server, mail.mail, mail.message and the
  // "Custom Email Servers" setting) registers here once it lands.
}

}  // namespace juniper
