#include "mail/router.hpp"

#include "mail/address.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <tuple>

namespace juniper::mail {
namespace {

// The part after the last @ (the whole text when it has none: a bare domain filter).
std::string_view routing_domain(std::string_view address) { return address.substr(address.rfind('@') + 1); }

template <typename F>
auto or_nullopt(F&& make) -> std::optional<decltype(make())> {
  try {
    return make();
  } catch (const AddressError&) {
    return std::nullopt;  // reported by route() only if it is ever needed
  }
}

const std::string& required(const std::optional<std::string>& value, const char* error) {
  if (!value) throw AddressError(error);
  return *value;
}

// The sender's own From value, made header-safe.
std::string header_from(std::string_view message_from, const MailboxView& sender) {
  if (detail::is_printable_ascii(message_from)) return std::string(message_from);
  return formataddr(sender.name, sender.address);
}

std::string header_from(std::string_view message_from, const std::vector<Mailbox>& senders) {
  if (detail::is_printable_ascii(message_from)) return std::string(message_from);
  if (senders.empty()) throw AddressError("\"" + std::string(message_from) + "\" is not a valid From header");
  return format_mailboxes(senders);
}

}  // namespace

std::string notification_address(std::string_view default_from, std::string_view catchall_domain) {
  if (default_from.find('@') != std::string_view::npos) return std::string(default_from);
  if (default_from.empty() || catchall_domain.empty()) return {};
  return std::string(default_from) + "@" + std::string(catchall_domain);
}

std::string bounce_address(std::string_view alias, std::string_view domain) {
  if (alias.empty() || domain.empty()) return {};
  return std::string(alias) + "@" + std::string(domain);
}

Router::Router(std::vector<OutgoingServer> servers, RoutingDefaults defaults) : defaults_(std::move(defaults)) {
  if (has_crlf_or_nul(defaults_.notification_address) || has_crlf_or_nul(defaults_.bounce_address))
    throw AddressError("The notification or bounce address contains CR, LF or NUL characters");

  std::erase_if(servers, [](const OutgoingServer& s) { return !s.active; });
  std::stable_sort(servers.begin(), servers.end(), [](const OutgoingServer& a, const OutgoingServer& b) {
    return std::tie(a.sequence, a.id) < std::tie(b.sequence, b.id);
  });
  active_count_ = servers.size();

  notif_ = email_normalize(defaults_.notification_address).value_or("");
  if (!notif_.empty()) {
    notif_header_ = or_nullopt([&] { return encode_address_header(notif_); }).value_or(notif_);
    notif_envelope_ = or_nullopt([&] { return to_ascii_address(notif_); });
  }
  const std::optional<std::string> bounce = email_normalize(defaults_.bounce_address);
  if (!defaults_.bounce_address.empty())
    bounce_envelope_ = or_nullopt([&] { return envelope_address(defaults_.bounce_address); });

  std::optional<Offset> first;
  std::optional<Offset> first_unfiltered;
  for (const OutgoingServer& server : servers) {
    const FromFilter filter = parse_from_filter(server.from_filter);
    const Offset record = append_record(server, filter, matches(filter, bounce));
    first = first.value_or(record);
    if (filter.match_all && !first_unfiltered) first_unfiltered = record;
    for (const std::string& address : filter.addresses) append_key(by_address_, address, record);
    for (const std::string& domain : filter.domains) append_key(by_domain_, domain, record);
  }

  // Steps 7-9 depend only on the notification address: settle them now.
  if (first) {
    if (!notif_.empty()) {
      fallback_ = by_address_.find(arena_, notif_);
      if (!fallback_) fallback_ = by_domain_.find(arena_, routing_domain(notif_));
    }
    if (!fallback_) fallback_ = first_unfiltered;
    if (!fallback_) {
      fallback_ = first;
      fallback_warns_ = true;
    }
  }

  default_filter_ = parse_from_filter(defaults_.default_from_filter);
  bounce_matches_default_ = matches(default_filter_, bounce);
  notif_matches_default_ = !notif_.empty() && matches(default_filter_, notif_);
}

Router::Offset Router::append_record(const OutgoingServer& server, const FromFilter& filter, bool bounce_matches) {
  if (arena_.size() + sizeof(Record) + server.name.size() + server.from_filter.size() > UINT32_MAX)
    throw std::length_error("mail routing: too many servers for one router");
  Record record{};  // value-initialised, so the padding bytes copied below are zero
  record.id = server.id;
  record.name_size = static_cast<std::uint32_t>(server.name.size());
  record.filter_size = static_cast<std::uint32_t>(server.from_filter.size());
  record.bounce_matches = bounce_matches;
  record.match_all = filter.match_all;
  const auto offset = static_cast<Offset>(arena_.size());
  arena_.append(reinterpret_cast<const char*>(&record), sizeof record);
  arena_ += server.name;
  arena_ += server.from_filter;
  return offset;
}

void Router::append_key(Index& index, std::string_view key, Offset record) {
  if (index.contains(arena_, key)) return;  // a better server already claims it
  if (arena_.size() + sizeof(std::uint32_t) + key.size() > UINT32_MAX)
    throw std::length_error("mail routing: too many servers for one router");
  const auto offset = static_cast<Offset>(arena_.size());
  const auto size = static_cast<std::uint32_t>(key.size());
  arena_.append(reinterpret_cast<const char*>(&size), sizeof size);
  arena_ += key;
  index.insert(arena_, offset, record);
}

Router::Record Router::record_at(Offset offset) const {
  Record record;
  std::memcpy(&record, arena_.data() + offset, sizeof record);
  return record;
}

namespace {

std::string_view key_at(const std::string& arena, std::uint32_t offset) {
  std::uint32_t size = 0;
  std::memcpy(&size, arena.data() + offset, sizeof size);
  return std::string_view(arena).substr(offset + sizeof size, size);
}

}  // namespace

std::optional<Router::Offset> Router::Index::find(const std::string& arena, std::string_view key) const {
  if (entries_.empty()) return std::nullopt;
  const std::uint64_t hash = std::hash<std::string_view>{}(key);
  const std::size_t mask = entries_.size() - 1;
  for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
    const Entry& e = entries_[i];
    if (e.record == no_record) return std::nullopt;
    if (e.hash == hash && key_at(arena, e.key) == key) return e.record;
  }
}

void Router::Index::insert(const std::string& arena, Offset key, Offset record) {
  if ((size_ + 1) * 2 > entries_.size()) grow();
  const std::uint64_t hash = std::hash<std::string_view>{}(key_at(arena, key));
  const std::size_t mask = entries_.size() - 1;
  std::size_t i = hash & mask;
  while (entries_[i].record != no_record) i = (i + 1) & mask;
  entries_[i] = {hash, key, record};
  ++size_;
}

void Router::Index::grow() {
  std::vector<Entry> old(std::max<std::size_t>(16, entries_.size() * 2));
  old.swap(entries_);
  const std::size_t mask = entries_.size() - 1;
  for (const Entry& e : old) {
    if (e.record == no_record) continue;
    std::size_t i = e.hash & mask;
    while (entries_[i].record != no_record) i = (i + 1) & mask;
    entries_[i] = e;
  }
}

// Steps 5-10 of _find_mail_server.
Router::Choice Router::choose(const std::optional<std::string>& sender, std::string_view message_from) const {
  Choice choice;
  if (sender) {
    choice.server = by_address_.find(arena_, *sender);
    if (!choice.server) choice.server = by_domain_.find(arena_, routing_domain(*sender));
  }
  choice.direct = choice.server.has_value();
  if (choice.direct) return choice;
  if (fallback_) {
    choice.server = fallback_;
    choice.use_notif = !notif_.empty();
    if (fallback_warns_)
      choice.warning = "No mail server matches the from_filter, using " +
                       (choice.use_notif ? notif_ : std::string(message_from)) + " as fallback";
  } else if (!matches(default_filter_, sender)) {
    choice.use_notif = !notif_.empty();
    if (!notif_matches_default_)
      choice.warning = "The default from_filter matches neither the sender nor the notification address, using " +
                       (choice.use_notif ? notif_ : std::string(message_from));
  }
  return choice;
}

RouteDecision Router::route(std::string_view email_from) const {
  if (has_crlf_or_nul(email_from)) throw AddressError("The sender address contains CR, LF or NUL characters");
  // Like a message built without sender: it goes out as the notification address.
  const std::string_view message_from = email_from.empty() ? std::string_view(defaults_.notification_address) : email_from;
  if (message_from.empty())
    throw AddressError(
        "No sender address, and no notification address is configured "
        "(mail.default.from and mail.catchall.domain)");

  // Step 1. The common simple shape is read in place, without copies.
  const std::optional<MailboxView> simple = detail::parse_simple_mailbox(message_from);
  const std::vector<Mailbox> senders = simple ? std::vector<Mailbox>{} : email_split(message_from);
  std::optional<std::string> sender;
  if (simple)
    sender = normalize_addr_spec(simple->address);
  else if (senders.size() == 1)
    sender = normalize_addr_spec(senders.front().address);
  const auto own_header = [&] { return simple ? header_from(message_from, *simple) : header_from(message_from, senders); };
  const auto own_envelope = [&] { return simple ? to_ascii_address(simple->address) : envelope_address(senders); };

  Choice choice = choose(sender, message_from);
  RouteDecision decision;
  bool filter_accepts_bounce = bounce_matches_default_;
  // Without a configured bounce address, the bounce address is the original
  // From: a direct match accepts it by construction, a fallback server only
  // when it has no filter (it would have matched directly otherwise).
  bool filter_accepts_from = false;
  if (choice.server) {
    const Record record = record_at(*choice.server);
    const char* text = arena_.data() + *choice.server + sizeof(Record);
    decision.server_id = record.id;
    decision.server_name.assign(text, record.name_size);
    decision.from_filter.assign(text + record.name_size, record.filter_size);
    filter_accepts_bounce = record.bounce_matches;
    filter_accepts_from = choice.direct || record.match_all;
  } else {
    decision.from_filter = defaults_.default_from_filter;
    filter_accepts_from = matches(default_filter_, sender);
  }
  decision.warning = std::move(choice.warning);

  // §2.7 steps 6-7: From header; a foreign sender is encapsulated.
  bool sent_as_notif = false;
  if (!choice.use_notif) {
    decision.from_header = own_header();
  } else if (sender == notif_) {
    decision.from_header = notif_header_;
    sent_as_notif = true;
  } else {
    std::string encapsulated = simple ? encapsulate_mailbox(*simple, notif_) : encapsulate_email(message_from, notif_);
    sent_as_notif = encapsulated != message_from;
    decision.from_header = sent_as_notif ? std::move(encapsulated) : own_header();
  }

  // §2.7 steps 8-9: the bounce address when the session's filter accepts it.
  const bool has_bounce = !defaults_.bounce_address.empty();
  const bool bounce_ok = has_bounce ? filter_accepts_bounce : filter_accepts_from;
  if (bounce_ok && has_bounce)
    decision.envelope_from = required(bounce_envelope_, "The bounce address cannot be used as a plain ASCII envelope");
  else if (!bounce_ok && sent_as_notif)
    decision.envelope_from = required(notif_envelope_, "The notification address cannot be used as a plain ASCII envelope");
  else
    decision.envelope_from = own_envelope();
  return decision;
}

}  // namespace juniper::mail
