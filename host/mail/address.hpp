// Address helpers with the semantics Odoo's mail routing relies on
// (email_split / email_normalize / formataddr / encapsulate_email and the
// envelope extraction). Parsing is GMime's; IDNA is libidn2's.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace juniper::mail {

// Raised for input that cannot be turned into a header or an envelope.
class AddressError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// One parsed mailbox; `address` is `local@domain` as written (Unicode kept).
struct Mailbox {
  std::string name;
  std::string address;
  friend bool operator==(const Mailbox&, const Mailbox&) = default;
};

// A mailbox borrowed from the text it was parsed from.
struct MailboxView {
  std::string_view name;
  std::string_view address;
  Mailbox owned() const { return {std::string(name), std::string(address)}; }
};

// Every mailbox of an address list (groups flattened), including entries
// without '@'. Empty when the text cannot be parsed.
std::vector<Mailbox> parse_mailboxes(std::string_view text);

// Mailboxes whose address contains '@'; recovers `Name addr@x` (unquoted
// name) by re-splitting on spaces.
std::vector<Mailbox> email_split(std::string_view text);

// Lower-cases the domain, and the local part only when it is ASCII.
std::string normalize_addr_spec(std::string_view address);

// Strict: exactly one address, else nullopt. Display names are dropped.
std::optional<std::string> email_normalize(std::string_view text);
std::optional<std::string> email_domain_extract(std::string_view text);
// nullopt if empty or containing '@'; lower-cased, no IDNA conversion.
std::optional<std::string> email_domain_normalize(std::string_view domain);

// Header-ready `"name" <local@domain>` (name escaped; RFC 2047 if non-ASCII;
// domain punycoded if non-ASCII) or bare `local@domain` without a name.
// Throws AddressError on CR/LF/NUL or an unencodable domain.
std::string formataddr(std::string_view name, std::string_view address);

// Keeps the old display name (or the old local part) in front of the new
// address: `"Admin" <admin@gmail.com>` + `notif@x` -> `"Admin" <notif@x>`.
std::string encapsulate_mailbox(const MailboxView& old_mailbox, std::string_view new_address);
// Returns `old_email` unchanged when it cannot be parsed.
std::string encapsulate_email(std::string_view old_email, std::string_view new_email);

// The value as it goes into an address header: unchanged when printable
// ASCII, otherwise rebuilt with formataddr. Throws AddressError if unparsable.
std::string encode_address_header(std::string_view value);
std::string format_mailboxes(const std::vector<Mailbox>& mailboxes);

// ASCII `local@xn--domain`; throws AddressError for a non-ASCII local part
// or a domain IDNA cannot encode.
std::string to_ascii_address(std::string_view address);
// MAIL FROM for a header value: the last address that can be made ASCII.
std::string envelope_address(std::string_view text);
std::string envelope_address(const std::vector<Mailbox>& mailboxes);

bool has_crlf_or_nul(std::string_view text);
// An error sentence for a list that must be refused, nullopt when acceptable.
std::optional<std::string> validate_address_list(std::string_view text);

namespace detail {
std::string_view trim(std::string_view text);
bool is_printable_ascii(std::string_view text);
// Fast path for the shapes senders nearly always have (`a@b.c`,
// `Name <a@b.c>`, `"Name" <a@b.c>`; ASCII address, UTF-8 name); nullopt
// means "ask GMime".
std::optional<MailboxView> parse_simple_mailbox(std::string_view text);
std::vector<Mailbox> parse_with_gmime(std::string_view text);
}  // namespace detail

}  // namespace juniper::mail
