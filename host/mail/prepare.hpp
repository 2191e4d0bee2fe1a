// One queued mail made ready for the wire: its envelope recipients and its MIME text. Whatever
// goes wrong here is that mail's outcome (the reason is returned, nothing is thrown).
#pragma once

#include "mail/queue.hpp"

#include <string>
#include <vector>

namespace juniper::mail {

// An attachment left out of the MIME text, for a module to send apart (mail.deliver, ABI 1.6).
struct ApartAttachment {
  std::string filename, content_type;
  std::string data;  // the decoded bytes
};

struct Prepared {
  std::string data;                     // the MIME text
  std::vector<std::string> recipients;  // envelope addresses, To + Cc + Bcc
  std::size_t hidden = 0;               // the last `hidden` recipients are the Bcc ones
  std::vector<ApartAttachment> apart;   // attachments not in `data` (see prepare's apart_above)
  std::string error;                    // why it cannot be sent; empty when ready
};

// `from_header`: the From the router chose (possibly rewritten for the notification server).
// `apart_above` > 0: attachments larger than that many bytes are left out of the MIME text and
// kept in `apart` (a mail API that takes them in pieces).
Prepared prepare(const QueuedMail& mail, const std::string& from_header, std::size_t apart_above = 0) noexcept;

}  // namespace juniper::mail
