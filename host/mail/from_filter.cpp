#include "mail/from_filter.hpp"

#include "mail/address.hpp"

#include <algorithm>

namespace juniper::mail {

FromFilter parse_from_filter(std::string_view filter) {
  FromFilter parsed;
  // Char fields are stored trimmed, so a blank filter is an empty one.
  if (detail::trim(filter).empty()) return parsed;
  parsed.match_all = false;
  while (!filter.empty()) {
    const auto comma = filter.find(',');
    const std::string_view part = detail::trim(filter.substr(0, comma));
    filter = comma == std::string_view::npos ? std::string_view{} : filter.substr(comma + 1);
    if (part.empty()) continue;
    if (part.find('@') != std::string_view::npos) {
      if (auto address = email_normalize(part)) parsed.addresses.push_back(std::move(*address));
    } else if (auto domain = email_domain_normalize(part)) {
      parsed.domains.push_back(std::move(*domain));
    }
  }
  return parsed;
}

bool matches(const FromFilter& filter, const std::optional<std::string>& normalised_sender) {
  if (filter.match_all) return true;
  if (!normalised_sender) return false;
  const std::string& sender = *normalised_sender;
  const std::string_view domain = std::string_view(sender).substr(sender.rfind('@') + 1);
  return std::find(filter.addresses.begin(), filter.addresses.end(), sender) != filter.addresses.end() ||
         std::find(filter.domains.begin(), filter.domains.end(), domain) != filter.domains.end();
}

bool match_from_filter(std::string_view sender, const FromFilter& filter) {
  return filter.match_all || matches(filter, email_normalize(sender));
}

bool match_from_filter(std::string_view sender, std::string_view filter) {
  return match_from_filter(sender, parse_from_filter(filter));
}

}  // namespace juniper::mail
