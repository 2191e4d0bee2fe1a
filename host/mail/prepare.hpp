// One queued mail made ready for the wire: its envelope recipients and its MIME text. Whatever
// goes wrong here is that mail's outcome (the reason is returned, nothing is thrown).
#pragma once

#include "mail/queue.hpp"

#include <string>
#include <vector>

namespace juniper::mail {

// An attachment left out of the MIME text, for a module to send apart (mail.deliver, ABI 1.6).
// Its bytes stay in the attachment store, except for a mail queued before it (`data`).
struct ApartAttachment {
  std::string filename, content_type;
  std::size_t size = 0;
  int index = 0;  // the mail's attachment (the store's key)
  bool loaded = false;
  std::string data;
};

struct Prepared {
  std::string data;                     // the MIME text
  std::vector<std::string> recipients;  // envelope addresses, To + Cc + Bcc
  std::size_t hidden = 0;               // the last `hidden` recipients are the Bcc ones
  std::vector<ApartAttachment> apart;   // attachments not in `data` (marked apart by load_body)
  std::string error;                    // why it cannot be sent; empty when ready
};

// `from_header`: the From the router chose (possibly rewritten for the notification server).
// The attachments' bytes move into the message (the mail keeps their names and sizes); those
// marked apart are listed in `apart` (a mail API that takes them in pieces).
Prepared prepare(QueuedMail& mail, const std::string& from_header) noexcept;

}  // namespace juniper::mail
