// One queued mail made ready for the wire: its envelope recipients and its MIME text. Whatever
// goes wrong here is that mail's outcome (the reason is returned, nothing is thrown).
#pragma once

#include "mail/queue.hpp"

#include <string>
#include <vector>

namespace juniper::mail {

struct Prepared {
  std::string data;                     // the MIME text
  std::vector<std::string> recipients;  // envelope addresses, To + Cc + Bcc
  std::size_t hidden = 0;               // the last `hidden` recipients are the Bcc ones
  std::string error;                    // why it cannot be sent; empty when ready
};

// `from_header`: the From the router chose (possibly rewritten for the notification server).
Prepared prepare(const QueuedMail& mail, const std::string& from_header) noexcept;

}  // namespace juniper::mail
