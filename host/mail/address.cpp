#include "mail/address.hpp"

#include "mail/mime/gmime_init.hpp"

#include <gmime/gmime.h>
#include <idn2.h>

#include <algorithm>
#include <array>
#include <memory>
#include <mutex>

namespace juniper::mail {
namespace {

struct GFree {
  void operator()(void* p) const noexcept { g_free(p); }
};
struct GUnref {
  void operator()(gpointer p) const noexcept { g_object_unref(p); }
};
using GText = std::unique_ptr<char, GFree>;

bool is_ascii(std::string_view s) {
  unsigned char seen = 0;  // no early exit, so the loop vectorises
  for (char c : s) seen |= static_cast<unsigned char>(c);
  return seen < 0x80;
}

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string ascii_lowercase(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), ascii_lower);
  return out;
}

// Python's str.lower() is Unicode-aware; so must be the domain comparison.
std::string lowercase(std::string_view s) {
  if (is_ascii(s) || !g_utf8_validate(s.data(), static_cast<gssize>(s.size()), nullptr)) return ascii_lowercase(s);
  GText lowered(g_utf8_strdown(s.data(), static_cast<gssize>(s.size())));
  return lowered ? std::string(lowered.get()) : ascii_lowercase(s);
}

// A table: the fast path calls this for every byte of every sender.
constexpr auto atext_table = [] {
  std::array<bool, 256> table{};
  for (int c = 'a'; c <= 'z'; ++c) table[static_cast<std::size_t>(c)] = table[static_cast<std::size_t>(c - 'a' + 'A')] = true;
  for (int c = '0'; c <= '9'; ++c) table[static_cast<std::size_t>(c)] = true;
  for (char c : std::string_view("!#$%&'*+-/=?^_`{|}~")) table[static_cast<unsigned char>(c)] = true;
  return table;
}();

bool is_atext(char c) { return atext_table[static_cast<unsigned char>(c)]; }

bool is_dot_atom(std::string_view s) {
  if (s.empty() || s.front() == '.' || s.back() == '.' || s.find("..") != std::string_view::npos) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return c == '.' || is_atext(c); });
}

bool is_plain_domain(std::string_view s) {
  if (s.empty() || s.front() == '.' || s.back() == '.' || s.find("..") != std::string_view::npos) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return c == '.' || c == '-' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  });
}

bool is_plain_addr_spec(std::string_view s) {
  const auto at = s.find('@');
  if (at == std::string_view::npos || s.find('@', at + 1) != std::string_view::npos) return false;
  return is_dot_atom(s.substr(0, at)) && is_plain_domain(s.substr(at + 1));
}

// Names may be UTF-8 (checked as a whole); GMime keeps valid UTF-8 as is.
bool is_utf8_byte(char c) { return static_cast<unsigned char>(c) >= 0x80; }

bool has_control(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

// Unquoted names: atoms separated by single spaces. Dots, comments and
// encoded words are left to GMime, whose rules for them are subtler.
bool is_plain_phrase(std::string_view s) {
  if (s.empty() || s.front() == ' ' || s.back() == ' ' || s.find("  ") != std::string_view::npos ||
      s.find("=?") != std::string_view::npos)
    return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return c == ' ' || is_atext(c) || is_utf8_byte(c); });
}

bool is_plain_quoted_name(std::string_view inner) {
  if (inner.empty() || inner.front() == ' ' || inner.back() == ' ' || inner.find("=?") != std::string_view::npos) return false;
  return std::none_of(inner.begin(), inner.end(), [](char c) { return c == '"' || c == '\\'; });
}

void collect_mailboxes(InternetAddressList* list, std::vector<Mailbox>& out) {
  const int count = internet_address_list_length(list);
  for (int i = 0; i < count; ++i) {
    InternetAddress* entry = internet_address_list_get_address(list, i);
    if (INTERNET_ADDRESS_IS_GROUP(entry)) {
      collect_mailboxes(internet_address_group_get_members(INTERNET_ADDRESS_GROUP(entry)), out);
      continue;
    }
    if (!INTERNET_ADDRESS_IS_MAILBOX(entry)) continue;
    const char* name = internet_address_get_name(entry);
    const char* addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(entry));
    out.push_back({name ? name : "", addr ? addr : ""});
  }
}

std::string_view domain_of(std::string_view address) {
  const auto at = address.rfind('@');
  return at == std::string_view::npos ? std::string_view{} : address.substr(at + 1);
}

std::string to_ascii_domain(std::string_view domain) {
  if (is_ascii(domain)) return std::string(domain);
  const std::string lowered = lowercase(domain);
  char* encoded = nullptr;
  const int rc = idn2_to_ascii_8z(lowered.c_str(), &encoded, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
  if (rc != IDN2_OK) throw AddressError("The domain \"" + std::string(domain) + "\" cannot be encoded: " + idn2_strerror(rc));
  std::string result(encoded);
  idn2_free(encoded);
  return result;
}

std::string encode_phrase(std::string_view name) {
  mime::init_gmime();
  const std::string text(name);
  GText encoded(g_mime_utils_header_encode_phrase(nullptr, text.c_str(), "utf-8"));
  if (!encoded) throw AddressError("The display name \"" + text + "\" cannot be encoded");
  return encoded.get();
}

}  // namespace

namespace detail {

std::string_view trim(std::string_view text) {
  constexpr std::string_view blanks = " \t\r\n\f\v";
  const auto first = text.find_first_not_of(blanks);
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(blanks) - first + 1);
}

bool is_printable_ascii(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
}

std::optional<MailboxView> parse_simple_mailbox(std::string_view text) {
  if (has_control(text) || (!is_ascii(text) && !g_utf8_validate(text.data(), static_cast<gssize>(text.size()), nullptr)))
    return std::nullopt;
  const std::string_view t = trim(text);
  if (t.empty()) return std::nullopt;
  if (t.back() != '>') {
    if (is_plain_addr_spec(t)) return MailboxView{{}, t};
    return std::nullopt;
  }
  const auto open = t.find('<');
  if (open == std::string_view::npos || t.find('<', open + 1) != std::string_view::npos) return std::nullopt;
  const std::string_view addr = t.substr(open + 1, t.size() - open - 2);
  if (!is_plain_addr_spec(addr)) return std::nullopt;
  const std::string_view phrase = trim(t.substr(0, open));
  if (phrase.empty()) return MailboxView{{}, addr};
  if (phrase.front() == '"') {
    if (phrase.size() < 2 || phrase.back() != '"' || !is_plain_quoted_name(phrase.substr(1, phrase.size() - 2)))
      return std::nullopt;
    return MailboxView{phrase.substr(1, phrase.size() - 2), addr};
  }
  if (!is_plain_phrase(phrase)) return std::nullopt;
  return MailboxView{phrase, addr};
}

std::vector<Mailbox> parse_with_gmime(std::string_view text) {
  std::vector<Mailbox> out;
  if (text.find('\0') != std::string_view::npos) return out;
  mime::init_gmime();
  const std::string z(text);
  std::unique_ptr<InternetAddressList, GUnref> list(internet_address_list_parse(nullptr, z.c_str()));
  if (list) collect_mailboxes(list.get(), out);
  return out;
}

}  // namespace detail

std::vector<Mailbox> parse_mailboxes(std::string_view text) {
  // GMime costs ~1.5 µs per call in GObject allocations; routing needs less.
  if (auto simple = detail::parse_simple_mailbox(text)) return {simple->owned()};
  return detail::parse_with_gmime(text);
}

std::vector<Mailbox> email_split(std::string_view text) {
  // Without an '@' in the text no address can have one: skip GMime.
  if (text.find('@') == std::string_view::npos) return {};
  std::vector<Mailbox> found = parse_mailboxes(text);
  std::erase_if(found, [](const Mailbox& m) { return m.address.find('@') == std::string::npos; });
  if (!found.empty() || text.find(' ') == std::string_view::npos) return found;

  // `John Doe john@x.com`: the words are the name, the '@' token the address.
  std::string commas(text);
  std::replace(commas.begin(), commas.end(), ' ', ',');
  std::string name;
  std::string address;
  for (const Mailbox& token : detail::parse_with_gmime(commas)) {
    if (token.address.find('@') != std::string::npos) {
      address = token.address;
    } else if (!token.address.empty()) {
      name += name.empty() ? "" : " ";
      name += token.address;
    }
  }
  if (!address.empty()) found.push_back({std::move(name), std::move(address)});
  return found;
}

std::string normalize_addr_spec(std::string_view address) {
  const auto at = address.rfind('@');
  if (at == std::string_view::npos) return lowercase(address);
  if (is_ascii(address))  // the common case, in a single allocation
    return ascii_lowercase(address);
  const std::string_view local = address.substr(0, at);
  std::string result = is_ascii(local) ? ascii_lowercase(local) : std::string(local);
  result += '@';
  result += lowercase(address.substr(at + 1));
  return result;
}

std::optional<std::string> email_normalize(std::string_view text) {
  const std::vector<Mailbox> found = email_split(text);
  if (found.size() != 1) return std::nullopt;
  std::string n = normalize_addr_spec(found.front().address);
  // GMime decodes IDNA A-labels only when they start with a lower-case "xn--"; normalising
  // lower-cases the domain, so a second pass could decode what the first kept ("Xn--..."):
  // go on to the fixed point, so that normalising a normalised address changes nothing
  // (found by fuzz_address).
  for (int pass = 0; pass < 3; ++pass) {
    const auto at = n.rfind('@');
    if (at == std::string::npos || n.find("xn--", at) == std::string::npos) break;
    const std::vector<Mailbox> again = email_split(n);
    if (again.size() != 1) break;
    std::string next = normalize_addr_spec(again.front().address);
    if (next == n) break;
    n = std::move(next);
  }
  return n;
}

std::optional<std::string> email_domain_extract(std::string_view text) {
  auto normalized = email_normalize(text);
  if (!normalized) return std::nullopt;
  return std::string(domain_of(*normalized));
}

std::optional<std::string> email_domain_normalize(std::string_view domain) {
  if (domain.empty() || domain.find('@') != std::string_view::npos) return std::nullopt;
  return lowercase(domain);
}

std::string formataddr(std::string_view name, std::string_view address) {
  if (has_crlf_or_nul(name) || has_crlf_or_nul(address)) throw AddressError("An address or display name contains CR, LF or NUL");
  std::string ascii_domain;
  std::string_view addr = address;
  if (const auto at = address.rfind('@'); at != std::string_view::npos && !is_ascii(address.substr(at + 1))) {
    ascii_domain = std::string(address.substr(0, at + 1)) + to_ascii_domain(address.substr(at + 1));
    addr = ascii_domain;
  }
  if (name.empty()) return std::string(addr);
  std::string out;
  if (!is_ascii(name)) {
    out = encode_phrase(name);
  } else {
    out.reserve(name.size() + addr.size() + 8);
    out += '"';
    for (char c : name) {
      if (c == '\\' || c == '"') out += '\\';
      out += c;
    }
    out += '"';
  }
  out += " <";
  out += addr;
  out += '>';
  return out;
}

std::string encapsulate_mailbox(const MailboxView& old_mailbox, std::string_view new_address) {
  if (!old_mailbox.name.empty()) return formataddr(old_mailbox.name, new_address);
  const std::string_view old = old_mailbox.address;
  return formataddr(old.substr(0, old.find('@')), new_address);
}

std::string encapsulate_email(std::string_view old_email, std::string_view new_email) {
  std::vector<Mailbox> old_found = parse_mailboxes(old_email);
  if (old_found.empty()) old_found = email_split(old_email);
  const std::vector<Mailbox> new_found = parse_mailboxes(new_email);
  if (old_found.empty() || new_found.empty() || new_found.front().address.empty()) return std::string(old_email);
  const Mailbox& old = old_found.front();
  return encapsulate_mailbox({old.name, old.address}, new_found.front().address);
}

std::string format_mailboxes(const std::vector<Mailbox>& mailboxes) {
  std::string out;
  for (const Mailbox& m : mailboxes) {
    out += out.empty() ? "" : ", ";
    out += formataddr(m.name, m.address);
  }
  return out;
}

std::string encode_address_header(std::string_view value) {
  if (has_crlf_or_nul(value)) throw AddressError("A header value contains CR, LF or NUL");
  if (detail::is_printable_ascii(value)) return std::string(value);
  const std::vector<Mailbox> found = email_split(value);
  if (found.empty()) throw AddressError("\"" + std::string(value) + "\" is not a valid address header value");
  return format_mailboxes(found);
}

std::string to_ascii_address(std::string_view address) {
  const auto at = address.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == address.size())
    throw AddressError("\"" + std::string(address) + "\" is not an email address");
  if (detail::is_printable_ascii(address)) return std::string(address);
  if (!detail::is_printable_ascii(address.substr(0, at)))
    throw AddressError("\"" + std::string(address) + "\" has a non-ASCII local part");
  return std::string(address.substr(0, at + 1)) + to_ascii_domain(address.substr(at + 1));
}

std::string envelope_address(const std::vector<Mailbox>& mailboxes) {
  for (auto it = mailboxes.rbegin(); it != mailboxes.rend(); ++it) {
    try {
      return to_ascii_address(it->address);
    } catch (const AddressError&) {
      // like Odoo, an unencodable candidate is skipped, not fatal
    }
  }
  throw AddressError("Malformed 'Return-Path' or 'From' address. It should contain one valid plain ASCII email");
}

std::string envelope_address(std::string_view text) {
  if (has_crlf_or_nul(text)) throw AddressError("An envelope address contains CR, LF or NUL");
  return envelope_address(email_split(text));
}

bool has_crlf_or_nul(std::string_view text) {
  // A plain loop: find_first_of calls memchr once per character.
  return std::any_of(text.begin(), text.end(), [](char c) { return c == '\r' || c == '\n' || c == '\0'; });
}

std::optional<std::string> validate_address_list(std::string_view text) {
  const bool has_control = std::any_of(text.begin(), text.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
  if (has_control) return "The address list contains control characters.";
  if (detail::trim(text).empty()) return "The address list is empty.";
  const std::vector<Mailbox> found = parse_mailboxes(text);
  if (found.empty()) return "\"" + std::string(text) + "\" could not be read as a list of email addresses.";
  // GMime drops what it cannot read (`a@b.com; c@d.com` yields one
  // mailbox), so every '@' written must reappear in what was parsed.
  std::size_t parsed_ats = 0;
  for (const Mailbox& m : found)
    parsed_ats += std::count(m.name.begin(), m.name.end(), '@') + std::count(m.address.begin(), m.address.end(), '@');
  if (static_cast<std::size_t>(std::count(text.begin(), text.end(), '@')) > parsed_ats)
    return "Part of \"" + std::string(text) + "\" could not be read as email addresses.";
  for (const Mailbox& m : found) {
    const auto at = m.address.rfind('@');
    if (at == std::string::npos || at == 0 || at + 1 == m.address.size())
      return "\"" + m.address + "\" is not an email address (it needs a local part, an @ and a domain).";
  }
  return std::nullopt;
}

}  // namespace juniper::mail
