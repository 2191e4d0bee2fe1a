// Fuzz target: one queued mail made ready for the wire (recipients, headers, attachment names
// and data, the MIME build). Invariant: nothing escapes prepare() (it is noexcept: an exception
// would abort), and a mail it accepts has recipients and a message.
#include "mail/address.hpp"
#include "mail/mime/message.hpp"
#include "mail/prepare.hpp"

#include <cstdint>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

namespace {
// The input's NUL-separated parts: From header, To, Cc, Bcc, Subject, body, attachments JSON.
std::vector<std::string> parts(std::string_view in) {
  std::vector<std::string> out;
  for (std::size_t p = 0; out.size() < 7;) {
    const auto q = in.find('\0', p);
    out.emplace_back(in.substr(p, q == std::string_view::npos ? std::string_view::npos : q - p));
    if (q == std::string_view::npos) break;
    p = q + 1;
  }
  out.resize(7);
  return out;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const bool gmime_ready = [] {  // as the host does once at start-up
    (void)juniper::mail::detail::parse_with_gmime("init@localhost");
    return true;
  }();
  (void)gmime_ready;
  const auto p = parts(std::string_view(reinterpret_cast<const char*>(data), size));
  juniper::mail::QueuedMail m;
  m.id = 1;
  m.email_to = p[1];
  m.email_cc = p[2];
  m.email_bcc = p[3];
  m.subject = p[4];
  m.body_text = p[5];
  try {  // as load_body: a list that cannot be read is the mail's outcome
    m.attachments = juniper::mail::parse_attachments(p[6]);
  } catch (const std::exception& e) {
    m.body_error = e.what();
  }
  m.message_id = "<fuzz@example.com>";
  const auto r = juniper::mail::prepare(m, p[0]);
  if (r.error.empty() && (r.recipients.empty() ? false : r.data.empty())) std::abort();
  return 0;
}
