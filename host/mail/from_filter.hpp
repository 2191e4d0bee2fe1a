// The from_filter of an outgoing server: which senders it may carry.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace juniper::mail {

// A parsed from_filter. Parsed once, so that matching never re-normalises.
struct FromFilter {
  bool match_all = true;               // the filter is empty: any sender
  std::vector<std::string> addresses;  // normalised full addresses
  std::vector<std::string> domains;    // lower-cased domains, exact match only
};

// Comma-separated; parts trimmed, empty parts dropped; a part with '@' is an
// address (normalised; unparsable ones can never match), otherwise a domain.
FromFilter parse_from_filter(std::string_view filter);

// `normalised_sender` is email_normalize's result for the sender.
bool matches(const FromFilter& filter, const std::optional<std::string>& normalised_sender);
bool match_from_filter(std::string_view sender, const FromFilter& filter);
bool match_from_filter(std::string_view sender, std::string_view filter);

}  // namespace juniper::mail
