// Fuzz target: address parsing and normalisation, from-filter parsing and matching, routing.
// Input: "<filter>\n<sender>" (no newline: the whole input is both).
// Invariants: no crash; normalisation is idempotent; what the router decides never carries a
// line break (no header injection) and names one of its servers.
#include "mail/address.hpp"
#include "mail/from_filter.hpp"
#include "mail/router.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace mail = juniper::mail;
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const auto nl = in.find('\n');
  const std::string_view filter = nl == std::string_view::npos ? in : in.substr(0, nl);
  const std::string_view sender = nl == std::string_view::npos ? in : in.substr(nl + 1);

  if (const auto n = mail::email_normalize(sender)) {
    if (mail::email_normalize(*n) != n) std::abort();  // idempotent
  }
  (void)mail::email_split(sender);
  (void)mail::validate_address_list(sender);
  (void)mail::email_domain_extract(sender);
  const auto parsed = mail::parse_from_filter(filter);
  (void)mail::match_from_filter(sender, parsed);

  std::vector<mail::OutgoingServer> servers = {{1, "Fuzzed", std::string(filter), 10, true},
                                               {2, "Notifications", "notifications@example.com", 10, true},
                                               {3, "Domain", "example.com, other.org", 20, true}};
  const mail::Router router(servers, {"notifications@example.com", "bounce@example.com", ""});
  try {
    const auto d = router.route(sender);
    if (d.server_id && (*d.server_id < 1 || *d.server_id > 3)) std::abort();
    if (mail::has_crlf_or_nul(d.from_header) || mail::has_crlf_or_nul(d.envelope_from)) std::abort();
  } catch (const mail::AddressError&) {
    // refused with a message: fine
  }
  return 0;
}
