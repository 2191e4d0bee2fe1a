#include "mail/mime/message.hpp"

#include "mail/mime/gmime_init.hpp"
#include "mail/mime/gobject.hpp"

#include <gmime/gmime.h>
#include <openssl/rand.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <tuple>

namespace juniper::mail::mime {
namespace {

struct DateUnref {
  void operator()(GDateTime* p) const noexcept { g_date_time_unref(p); }
};
using GDate = std::unique_ptr<GDateTime, DateUnref>;

constexpr std::size_t max_line = 998;  // RFC 5322 2.1.1, without the CRLF

// Options shared read-only by every call (GMime objects themselves are per
// call, so build() and parse() may run on several threads).
struct Gmime {
  GMimeFormatOptions* format = nullptr;  // CRLF, Bcc hidden
  GMimeParserOptions* parser = nullptr;
};

const Gmime& gmime() {
  static Gmime g;
  static std::once_flag once;
  std::call_once(once, [] {
    init_gmime();
    g.format = g_mime_format_options_new();
    g_mime_format_options_set_newline_format(g.format, GMIME_NEWLINE_FORMAT_DOS);
    g_mime_format_options_set_param_encoding_method(g.format, GMIME_PARAM_ENCODING_METHOD_RFC2231);
    g_mime_format_options_add_hidden_header(g.format, "Bcc");  // belt and braces
    g.parser = g_mime_parser_options_new();
    const char* charsets[] = {"utf-8", "windows-1252", "iso-8859-1", nullptr};
    g_mime_parser_options_set_fallback_charsets(g.parser, charsets);
  });
  return g;
}

// ---- validation -----------------------------------------------------------

// `text` with control characters made visible, shortened, for messages.
std::string printable(std::string_view text) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (char c : text.substr(0, 80)) {
    auto u = static_cast<unsigned char>(c);
    if (c == '\r')
      out += "\\r";
    else if (c == '\n')
      out += "\\n";
    else if (u < 0x20 || u == 0x7f) {
      out += "\\x";
      out += hex[u >> 4];
      out += hex[u & 15];
    } else
      out += c;
  }
  if (text.size() > 80) out += "...";
  return out;
}

// Header injection guard: `what` names the field in the message.
void check_text(std::string_view what, std::string_view value) {
  if (value.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos)
    throw std::invalid_argument("The " + std::string(what) + " contains a CR, LF or NUL character: \"" + printable(value) + "\"");
}

void check_value(std::string_view header, std::string_view value) { check_text(std::string(header) + " header value", value); }

bool ascii_iequal(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return g_ascii_tolower(x) == g_ascii_tolower(y); });
}

void check_extra_header(std::string_view name, std::string_view value) {
  // RFC 5322 field-name: printable ASCII except ':'.
  bool valid = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u >= 33 && u <= 126 && c != ':';
  });
  if (!valid)
    throw std::invalid_argument("The extra header name \"" + printable(name) +
                                "\" is not a valid header name (printable ASCII without ':', CR, LF, NUL or spaces).");
  static constexpr std::string_view reserved[] = {"From",    "To",   "Cc",         "Bcc",         "Reply-To",
                                                  "Subject", "Date", "Message-ID", "MIME-Version"};
  bool is_reserved =
      std::any_of(std::begin(reserved), std::end(reserved), [&](std::string_view r) { return ascii_iequal(r, name); }) ||
      (name.size() >= 8 && ascii_iequal(name.substr(0, 8), "Content-"));
  if (is_reserved)
    throw std::invalid_argument("The extra header \"" + std::string(name) +
                                "\" is set by the message builder itself and cannot be given as an extra header.");
  check_value(name, value);
}

bool is_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

// A host name (letters, digits, '-', '_', inner dots) or an address literal
// such as "[192.0.2.1]" / "[IPv6:2001:db8::1]": what may follow the '@' of a
// Message-ID without quoting.
bool is_message_id_domain(std::string_view domain) {
  if (domain.size() > 2 && domain.front() == '[' && domain.back() == ']')
    return std::all_of(domain.begin() + 1, domain.end() - 1, [](char c) { return g_ascii_isalnum(c) || c == '.' || c == ':'; });
  return !domain.empty() && domain.front() != '.' && domain.back() != '.' && domain.find("..") == std::string_view::npos &&
         std::all_of(domain.begin(), domain.end(), [](char c) { return g_ascii_isalnum(c) || c == '.' || c == '-' || c == '_'; });
}

// Non-ASCII domains punycoded by GMime (libidn2); others unchanged.
std::string ascii_domain(std::string_view domain) {
  if (is_ascii(domain) || domain.find_first_of(std::string_view("\r\n\0@ ", 5)) != std::string_view::npos)
    return std::string(domain);
  gmime();
  std::string addr = "x@" + std::string(domain);
  GRef<InternetAddress> mailbox(internet_address_mailbox_new(nullptr, addr.c_str()));
  const char* idn = internet_address_mailbox_get_idn_addr(INTERNET_ADDRESS_MAILBOX(mailbox.get()));
  const char* at = idn ? std::strrchr(idn, '@') : nullptr;
  return at ? std::string(at + 1) : std::string(domain);
}

// ---- building -------------------------------------------------------------

void append_random_hex(std::string& out, std::size_t bytes) {
  std::array<unsigned char, 32> random{};
  bytes = std::min(bytes, random.size());
  if (RAND_bytes(random.data(), static_cast<int>(bytes)) != 1)
    throw std::runtime_error("OpenSSL RAND_bytes failed: no random identifier can be made.");
  static constexpr char hex[] = "0123456789abcdef";
  for (std::size_t i = 0; i < bytes; ++i) {
    out += hex[random[i] >> 4];
    out += hex[random[i] & 15];
  }
}

// g_mime_multipart_new_with_subtype() makes its boundary from an open/read/
// close of /dev/urandom (a tenth of a build, and garbage where that device is
// missing); this one comes from OpenSSL's generator, in GMime's "=-" style:
// "=-" cannot occur in base64 or quoted-printable output.
GMimeMultipart* multipart(const char* subtype) {
  auto* part = static_cast<GMimeMultipart*>(g_object_new(GMIME_TYPE_MULTIPART, nullptr));
  GRef<GMimeContentType> type(g_mime_content_type_new("multipart", subtype));
  g_mime_object_set_content_type(GMIME_OBJECT(part), type.get());
  std::string boundary = "=-";
  append_random_hex(boundary, 16);
  g_mime_multipart_set_boundary(part, boundary.c_str());
  return part;
}

// Body text as lines ending in LF: GMime's unix2dos newline filter writes
// CRLF (a lone CR would survive it), and a final newline is added when
// missing, as GMime does anyway for a single-part message; so the text parses
// back the same whatever the structure.
std::string lf_lines(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 1);
  // Copied a run at a time up to each CR (a per-character loop was a sixth of a send's CPU).
  std::size_t start = 0;
  for (std::size_t cr = text.find('\r'); cr != std::string_view::npos; cr = text.find('\r', start)) {
    out.append(text.substr(start, cr - start));
    if (cr + 1 >= text.size() || text[cr + 1] != '\n') out += '\n';  // a lone CR ends a line too
    start = cr + 1;
  }
  out.append(text.substr(start));
  if (!out.empty() && out.back() != '\n') out += '\n';
  return out;
}

GMimeDataWrapper* content_of(std::string_view bytes) {
  GRef<GMimeStream> stream(g_mime_stream_mem_new_with_buffer(bytes.data(), bytes.size()));
  return g_mime_data_wrapper_new_with_stream(stream.get(), GMIME_CONTENT_ENCODING_DEFAULT);
}

GMimeObject* text_part(const char* subtype, std::string_view text) {
  auto* part = g_mime_text_part_new_with_subtype(subtype);
  g_mime_object_set_content_type_parameter(GMIME_OBJECT(part), "charset", "utf-8");
  GRef<GMimeDataWrapper> content(content_of(lf_lines(text)));
  g_mime_part_set_content(GMIME_PART(part), content.get());
  // Transfer encoding left to g_mime_object_encode() (7bit, QP or base64).
  return GMIME_OBJECT(part);
}

struct ExtensionType {
  std::string_view extension;
  std::string_view type;
};
constexpr ExtensionType extension_types[] = {
    {"7z", "application/x-7z-compressed"},
    {"avif", "image/avif"},
    {"bmp", "image/bmp"},
    {"csv", "text/csv"},
    {"doc", "application/msword"},
    {"docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
    {"eml", "message/rfc822"},
    {"gif", "image/gif"},
    {"gz", "application/gzip"},
    {"htm", "text/html"},
    {"html", "text/html"},
    {"ics", "text/calendar"},
    {"jpeg", "image/jpeg"},
    {"jpg", "image/jpeg"},
    {"js", "text/javascript"},
    {"json", "application/json"},
    {"md", "text/markdown"},
    {"mp3", "audio/mpeg"},
    {"mp4", "video/mp4"},
    {"odp", "application/vnd.oasis.opendocument.presentation"},
    {"ods", "application/vnd.oasis.opendocument.spreadsheet"},
    {"odt", "application/vnd.oasis.opendocument.text"},
    {"pdf", "application/pdf"},
    {"png", "image/png"},
    {"ppt", "application/vnd.ms-powerpoint"},
    {"pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation"},
    {"rtf", "application/rtf"},
    {"svg", "image/svg+xml"},
    {"tar", "application/x-tar"},
    {"tif", "image/tiff"},
    {"tiff", "image/tiff"},
    {"txt", "text/plain"},
    {"vcf", "text/vcard"},
    {"wav", "audio/wav"},
    {"webp", "image/webp"},
    {"xls", "application/vnd.ms-excel"},
    {"xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
    {"xml", "application/xml"},
    {"zip", "application/zip"},
};

std::string_view guess_content_type(std::string_view filename) {
  auto dot = filename.rfind('.');
  if (dot != std::string_view::npos) {
    auto ext = filename.substr(dot + 1);
    for (const auto& e : extension_types)
      if (ascii_iequal(e.extension, ext)) return e.type;
  }
  return "application/octet-stream";
}

GMimeObject* attachment_part(const Attachment& a, const Gmime& g) {
  check_text("attachment filename", a.filename);
  check_text("attachment content type", a.content_type);
  std::string type(a.content_type.empty() ? guess_content_type(a.filename) : std::string_view(a.content_type));
  auto slash = type.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == type.size())
    throw std::invalid_argument("The attachment content type \"" + printable(type) + "\" of \"" + printable(a.filename) +
                                "\" is not of the form type/subtype.");
  GRef<GMimeContentType> content_type(g_mime_content_type_parse(g.parser, type.c_str()));

  auto* part = g_mime_part_new();
  auto* object = GMIME_OBJECT(part);
  g_mime_object_set_content_type(object, content_type.get());
  g_mime_object_set_disposition(object, GMIME_DISPOSITION_ATTACHMENT);
  if (!a.filename.empty()) {
    g_mime_part_set_filename(part, a.filename.c_str());  // also sets the Content-Type name
    // RFC 2231-encoded as UTF-8 when not ASCII (GMime would pick Latin-1 when it can).
    auto* disposition = g_mime_object_get_content_disposition(object);
    if (auto* p = g_mime_param_list_get_parameter(g_mime_content_disposition_get_parameters(disposition), "filename"))
      g_mime_param_set_charset(p, "utf-8");
    if (auto* p = g_mime_param_list_get_parameter(g_mime_content_type_get_parameters(content_type.get()), "name"))
      g_mime_param_set_charset(p, "utf-8");
  }
  GRef<GMimeDataWrapper> content(content_of(a.data));
  g_mime_part_set_content(part, content.get());
  g_mime_part_set_content_encoding(part, GMIME_CONTENT_ENCODING_BASE64);
  return object;
}

// Parses an address list as GMime does; every address is then encoded with
// UTF-8 encoded words when its name is not ASCII.
InternetAddressList* address_list(std::string_view header, std::string_view text, const Gmime& g) {
  check_value(header, text);
  auto* list = internet_address_list_parse(g.parser, std::string(text).c_str());
  if (!list || internet_address_list_length(list) == 0) {
    if (list) g_object_unref(list);
    throw std::invalid_argument("The " + std::string(header) + " address \"" + printable(text) + "\" is not a valid address.");
  }
  for (int i = 0; i < internet_address_list_length(list); ++i)
    internet_address_set_charset(internet_address_list_get_address(list, i), "utf-8");
  return list;
}

std::string from_domain(GMimeMessage* message) {
  auto* from = g_mime_message_get_from(message);
  if (internet_address_list_length(from) < 1) return {};
  auto* address = internet_address_list_get_address(from, 0);
  if (!INTERNET_ADDRESS_IS_MAILBOX(address)) return {};
  auto* mailbox = INTERNET_ADDRESS_MAILBOX(address);
  const char* addr = internet_address_mailbox_get_addr(mailbox);
  const char* at = addr ? std::strrchr(addr, '@') : nullptr;
  return at ? ascii_domain(at + 1) : std::string();
}

// Writes `value` unchanged: GMime's formatters would RFC 2047-encode (or, for
// structured headers, split) any word longer than a 78-byte line, which breaks
// URLs in List-Unsubscribe and the like; RFC 5322 only requires <= 998 bytes.
void set_raw_value(GMimeHeader* header, std::string_view value) {
  std::string raw;
  raw.reserve(value.size() + 2);
  raw += ' ';
  raw += value;
  raw += '\n';  // the CRLF newline filter converts it
  g_mime_header_set_raw_value(header, raw.c_str());
}

bool fits_one_line(std::string_view name, std::string_view value) {
  return name.size() + 2 + value.size() <= max_line && is_ascii(value);
}

void add_addresses(GMimeMessage* message, GMimeAddressType type, const char* header, const std::vector<std::string>& entries,
                   const Gmime& g) {
  if (entries.empty()) return;
  GRef<InternetAddressList> all(internet_address_list_new());
  std::string joined;
  for (const auto& entry : entries) {
    GRef<InternetAddressList> list(address_list(header, entry, g));
    internet_address_list_append(all.get(), list.get());
    joined += (joined.empty() ? "" : ", ") + entry;
  }
  // Valid (parsed above; CR/LF refused there) and plain ASCII on one line: written as given, like From. GMime's
  // encoder would put every domain through IDNA (libidn2's TR46 tables: CPU, and half a
  // megabyte of memory per process) to change nothing.
  auto* placeholder = g_mime_header_list_get_header(g_mime_object_get_header_list(GMIME_OBJECT(message)), header);
  if (placeholder != nullptr && fits_one_line(header, joined)) {
    set_raw_value(placeholder, joined);
    return;
  }
  internet_address_list_append(g_mime_message_get_addresses(message, type), all.get());  // one header update
}

// Names the header (or part header) that a too-long line belongs to.
void check_line_lengths(std::string_view out) {
  std::size_t start = 0;
  std::string_view field;  // the last header field name seen
  while (start < out.size()) {
    auto end = out.find("\r\n", start);
    if (end == std::string_view::npos) end = out.size();
    auto line = out.substr(start, end - start);
    if (!line.empty() && line.front() != ' ' && line.front() != '\t') {
      auto colon = line.find(':');
      field = colon == std::string_view::npos ? std::string_view() : line.substr(0, colon);
    }
    if (line.size() > max_line) {
      if (field.empty()) throw std::invalid_argument("The built message has a line longer than 998 bytes.");
      throw std::invalid_argument("The " + std::string(field) + " header cannot be folded into lines of at most 998 bytes.");
    }
    start = end + 2;
  }
}

}  // namespace

std::string make_message_id(std::string_view domain_text) {
  std::string domain = ascii_domain(domain_text);
  if (!is_message_id_domain(domain))
    throw std::invalid_argument("The Message-ID domain \"" + printable(domain_text) +
                                "\" is not a host name or an address literal.");
  std::string id;
  id.reserve(2 + 32 + 1 + domain.size());
  id += '<';
  append_random_hex(id, 16);
  id += '@';
  id += domain;
  id += '>';
  return id;
}

// Long: one GMime tree built step by step (headers, text and HTML bodies, attachments); every
// step adds to the same tree.
std::string build(const OutgoingMessage& m) {
  const auto& g = gmime();

  GRef<GMimeMessage> message(g_mime_message_new(TRUE));  // TRUE: conventional header order
  auto* object = GMIME_OBJECT(message.get());

  // Date
  if (m.date.empty()) {
    GDate now(g_date_time_new_now_utc());
    g_mime_message_set_date(message.get(), now.get());
  } else {
    check_value("Date", m.date);
    GDate parsed(g_mime_utils_header_decode_date(m.date.c_str()));
    if (!parsed) throw std::invalid_argument("The Date header value \"" + printable(m.date) + "\" is not an RFC 5322 date.");
    g_mime_object_set_header(object, "Date", m.date.c_str(), nullptr);
  }

  // From: the router's text, as is (GMime parses it for the address list).
  check_value("From", m.from);
  if (m.from.find_first_not_of(" \t") == std::string::npos) throw std::invalid_argument("The From header value is empty.");
  if (auto* header = g_mime_header_list_get_header(g_mime_object_get_header_list(object), "From");
      header && fits_one_line("From", m.from))
    set_raw_value(header, m.from);  // the pretty-headers placeholder
  else                              // not header-ready after all: GMime encodes and folds it
    g_mime_object_set_header(object, "From", m.from.c_str(), "utf-8");
  if (internet_address_list_length(g_mime_message_get_from(message.get())) < 1)
    throw std::invalid_argument("The From header value \"" + printable(m.from) + "\" is not a valid address.");

  if (!m.reply_to.empty()) {
    GRef<InternetAddressList> list(address_list("Reply-To", m.reply_to, g));
    internet_address_list_append(g_mime_message_get_reply_to(message.get()), list.get());
  }

  check_value("Subject", m.subject);
  if (!m.subject.empty()) g_mime_message_set_subject(message.get(), m.subject.c_str(), "utf-8");

  add_addresses(message.get(), GMIME_ADDRESS_TYPE_TO, "To", m.to, g);
  add_addresses(message.get(), GMIME_ADDRESS_TYPE_CC, "Cc", m.cc, g);

  std::string message_id = m.message_id;
  if (message_id.empty()) {
    auto domain = from_domain(message.get());
    message_id = make_message_id(is_message_id_domain(domain) ? domain : "localhost");
  } else {
    check_value("Message-ID", message_id);
    if (message_id.size() < 3 || message_id.front() != '<' || message_id.back() != '>' ||
        message_id.find_first_of(" \t") != std::string::npos)
      throw std::invalid_argument("The Message-ID header value \"" + printable(message_id) +
                                  "\" is not of the form <id@domain>.");
  }
  g_mime_object_set_header(object, "Message-ID", message_id.c_str(), nullptr);

  for (const auto& [name, value] : m.extra_headers) {
    check_extra_header(name, value);
    if (fits_one_line(name, value)) {
      g_mime_object_append_header(object, name.c_str(), "", nullptr);
      auto* headers = g_mime_object_get_header_list(object);
      set_raw_value(g_mime_header_list_get_header_at(headers, g_mime_header_list_get_count(headers) - 1), value);
    } else {  // non-ASCII (RFC 2047-encoded by GMime) or too long for one line (folded by GMime)
      g_mime_object_append_header(object, name.c_str(), value.c_str(), "utf-8");
    }
  }

  // Body: text and/or html (alternative), then attachments (mixed).
  GRef<GMimeObject> body;
  if (!m.text_body.empty() && !m.html_body.empty()) {
    GRef<GMimeMultipart> alternative(multipart("alternative"));
    GRef<GMimeObject> text(text_part("plain", m.text_body));
    GRef<GMimeObject> html(text_part("html", m.html_body));
    g_mime_multipart_add(alternative.get(), text.get());
    g_mime_multipart_add(alternative.get(), html.get());
    body.reset(GMIME_OBJECT(alternative.release()));
  } else if (!m.html_body.empty()) {
    body.reset(text_part("html", m.html_body));
  } else if (!m.text_body.empty() || m.attachments.empty()) {
    body.reset(text_part("plain", m.text_body));
  }
  if (!m.attachments.empty()) {
    GRef<GMimeMultipart> mixed(multipart("mixed"));
    if (body) g_mime_multipart_add(mixed.get(), body.get());
    for (const auto& a : m.attachments) {
      GRef<GMimeObject> part(attachment_part(a, g));
      g_mime_multipart_add(mixed.get(), part.get());
    }
    body.reset(GMIME_OBJECT(mixed.release()));
  }
  g_mime_message_set_mime_part(message.get(), body.get());  // adds MIME-Version
  g_mime_object_encode(object, GMIME_ENCODING_CONSTRAINT_7BIT);

  // Serialise once into a buffer sized for the base64 growth.
  std::size_t estimate = 4096 + m.text_body.size() * 11 / 10 + m.html_body.size() * 11 / 10;
  for (const auto& a : m.attachments) estimate += 512 + a.data.size() * 139 / 100;
  GByteArray* bytes = g_byte_array_sized_new(static_cast<guint>(std::min<std::size_t>(estimate, G_MAXUINT)));
  GRef<GMimeStream> stream(g_mime_stream_mem_new_with_byte_array(bytes));  // owns `bytes`
  if (g_mime_object_write_to_stream(object, g.format, stream.get()) < 0)
    throw std::runtime_error("GMime could not write the message.");
  std::string out(reinterpret_cast<const char*>(bytes->data), bytes->len);
  check_line_lengths(out);
  return out;
}

// ---- parsing --------------------------------------------------------------
namespace {

// GMime before 3.2.14 (Debian 12 ships 3.2.13) decodes a run of adjacent
// encoded-words with the same charset and encoding as one base64 stream and
// stops at the first '=' padding, so "=?UTF-8?B?SGVsbG8=?= =?UTF-8?B?IHdvcmxk?="
// decodes to "Hello" (jstedfast/gmime#133, fixed upstream by 1a33a55b). Long
// UTF-8 subjects and names, GMime's own included, look like that. The
// workaround keeps all decoding in GMime: an empty Q-encoded word between a
// padded B word and the next B word ends the run, and whitespace between
// encoded-words is not part of the decoded text.
bool has_b_word_bug() {
  static const bool bug = !g_mime_check_version(3, 2, 14);  // the library's version, not the header's
  return bug;
}

struct EncodedWord {
  std::size_t begin = 0, end = 0;  // [begin, end) of "=?charset?X?payload?="
  char encoding = 0;               // 'B' or 'Q'
  bool padded = false;             // B payload ending in '='
};

bool next_encoded_word(std::string_view text, std::size_t from, EncodedWord& word) {
  auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  for (auto at = text.find("=?", from); at != std::string_view::npos; at = text.find("=?", at + 1)) {
    std::size_t i = at + 2, charset = i;
    while (i < text.size() && text[i] != '?' && !is_space(text[i])) ++i;
    if (i == charset || i + 2 >= text.size() || text[i] != '?' || text[i + 2] != '?') continue;
    char encoding = static_cast<char>(g_ascii_toupper(text[i + 1]));
    if (encoding != 'B' && encoding != 'Q') continue;
    std::size_t payload = i + 3;
    i = payload;
    while (i < text.size() && text[i] != '?' && !is_space(text[i])) ++i;
    if (i + 1 >= text.size() || text[i] != '?' || text[i + 1] != '=') continue;
    word = {at, i + 2, encoding, encoding == 'B' && i > payload && text[i - 1] == '='};
    return true;
  }
  return false;
}

// `raw` with the runs broken up, or nullopt when nothing needs it.
std::optional<std::string> split_padded_b_runs(std::string_view raw) {
  if (!has_b_word_bug() || raw.find("=?") == std::string_view::npos) return std::nullopt;
  std::string out;
  std::size_t copied = 0;
  EncodedWord previous, word;
  bool have_previous = false;
  for (std::size_t from = 0; next_encoded_word(raw, from, word); from = word.end) {
    bool adjacent = have_previous &&
                    raw.substr(previous.end, word.begin - previous.end).find_first_not_of(" \t\r\n") == std::string_view::npos;
    if (adjacent && previous.padded && word.encoding == 'B') {
      out.append(raw.substr(copied, previous.end - copied));
      out +=
          " =?us-ascii?q?"
          "?=";  // empty; split: "??=" is a trigraph
      copied = previous.end;
    }
    previous = word;
    have_previous = true;
  }
  if (copied == 0) return std::nullopt;
  out.append(raw.substr(copied));
  return out;
}

const char* raw_header(GMimeObject* object, const char* name) {
  auto* header = g_mime_header_list_get_header(g_mime_object_get_header_list(object), name);
  return header ? g_mime_header_get_raw_value(header) : nullptr;
}

std::string stream_bytes(GMimeStream* mem) {
  GByteArray* bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
  return bytes ? std::string(reinterpret_cast<const char*>(bytes->data), bytes->len) : std::string();
}

bool is_utf8_compatible(const char* charset) {
  static constexpr std::string_view names[] = {"utf-8", "utf8", "us-ascii", "ascii"};
  return std::any_of(std::begin(names), std::end(names), [&](std::string_view n) { return ascii_iequal(n, charset); });
}

// Decoded content, converted from the declared charset to UTF-8, LF line ends.
std::string part_text(GMimePart* part, const Gmime& g) {
  auto* content = g_mime_part_get_content(part);
  if (!content) return {};
  GRef<GMimeStream> out(g_mime_stream_mem_new());
  GRef<GMimeStream> filtered(g_mime_stream_filter_new(out.get()));
  const char* charset = g_mime_object_get_content_type_parameter(GMIME_OBJECT(part), "charset");
  if (charset && !is_utf8_compatible(charset)) {
    if (auto* filter = g_mime_filter_charset_new(charset, "utf-8")) {  // NULL: unknown charset
      g_mime_stream_filter_add(GMIME_STREAM_FILTER(filtered.get()), filter);
      g_object_unref(filter);
    }
  }
  auto* dos2unix = g_mime_filter_dos2unix_new(FALSE);
  g_mime_stream_filter_add(GMIME_STREAM_FILTER(filtered.get()), dos2unix);
  g_object_unref(dos2unix);
  g_mime_data_wrapper_write_to_stream(content, filtered.get());
  g_mime_stream_flush(filtered.get());
  std::string text = stream_bytes(out.get());
  if (!g_utf8_validate(text.data(), static_cast<gssize>(text.size()), nullptr)) {
    // Undeclared or wrong charset: GMime's guess over the fallback charsets.
    GText decoded(g_mime_utils_decode_8bit(g.parser, text.data(), text.size()));
    if (decoded) text = decoded.get();
  }
  return text;
}

std::string decoded_bytes(GMimePart* part) {
  auto* content = g_mime_part_get_content(part);
  if (!content) return {};
  GRef<GMimeStream> out(g_mime_stream_mem_new());
  g_mime_data_wrapper_write_to_stream(content, out.get());
  return stream_bytes(out.get());
}

std::string mime_type(GMimeObject* object) {
  auto* type = g_mime_object_get_content_type(object);
  if (!type) return "application/octet-stream";
  GText text(g_mime_content_type_get_mime_type(type));
  std::string out = text ? text.get() : "application/octet-stream";
  std::transform(out.begin(), out.end(), out.begin(), [](char c) { return g_ascii_tolower(c); });
  return out;
}

void append_text(std::string& to, std::string text) {
  if (to.empty())
    to = std::move(text);
  else if (!text.empty()) {
    if (to.back() != '\n') to += '\n';
    to += text;
  }
}

// The filename decoded again past the GMime 3.2.13 run bug, or empty.
std::string redecoded_filename(GMimeObject* part, const Gmime& g) {
  if (const char* raw = raw_header(part, "Content-Disposition")) {
    if (auto fixed = split_padded_b_runs(raw)) {
      GRef<GMimeContentDisposition> disposition(g_mime_content_disposition_parse(g.parser, fixed->c_str()));
      if (const char* name = g_mime_content_disposition_get_parameter(disposition.get(), "filename")) return name;
    }
  }
  if (const char* raw = raw_header(part, "Content-Type")) {
    if (auto fixed = split_padded_b_runs(raw)) {
      GRef<GMimeContentType> type(g_mime_content_type_parse(g.parser, fixed->c_str()));
      if (const char* name = g_mime_content_type_get_parameter(type.get(), "name")) return name;
    }
  }
  return {};
}

struct Walk {
  ParsedMessage* out;
  const Gmime* g;
  AttachmentData data;
  const AttachmentFile* file;
  int fd = -1;  // AttachmentData::to_file, once opened
  // What went wrong writing an attachment: rethrown after the walk, as no exception may cross
  // GMime's C frames.
  std::exception_ptr error;
};

// Where `write` puts an attachment's bytes in to_file mode: the end of the caller's file, through
// a pipe stream (an fs stream would fsync the file at every flush). Answers {offset, size}.
template <typename Write>
std::pair<std::size_t, std::size_t> to_file(Walk& walk, Write write) noexcept try {
  if (walk.error) return {0, 0};
  if (walk.fd < 0) walk.fd = (*walk.file)();
  const off_t start = ::lseek(walk.fd, 0, SEEK_END);
  if (start < 0) throw std::runtime_error("cannot write an attachment: " + std::string(std::strerror(errno)));
  GRef<GMimeStream> out(g_mime_stream_pipe_new(walk.fd));
  g_mime_stream_pipe_set_owner(GMIME_STREAM_PIPE(out.get()), FALSE);
  if (write(out.get()) < 0) throw std::runtime_error("cannot write an attachment: " + std::string(std::strerror(errno)));
  const off_t end = ::lseek(walk.fd, 0, SEEK_CUR);
  return {static_cast<std::size_t>(start), static_cast<std::size_t>(end - start)};
} catch (...) {
  walk.error = std::current_exception();
  return {0, 0};
}

void visit(GMimeObject* /*parent*/, GMimeObject* part, gpointer data) {
  auto& walk = *static_cast<Walk*>(data);
  auto& out = *walk.out;
  if (GMIME_IS_MESSAGE_PART(part)) {
    ParsedAttachment a;
    const char* name = g_mime_object_get_content_disposition_parameter(part, "filename");
    a.filename = name ? name : "";
    a.content_type = mime_type(part);
    auto* inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(part));
    if (inner && walk.data == AttachmentData::to_file) {
      std::tie(a.offset, a.size) =
          to_file(walk, [&](GMimeStream* s) { return g_mime_object_write_to_stream(GMIME_OBJECT(inner), walk.g->format, s); });
    } else if (inner) {
      GRef<GMimeStream> sink(walk.data == AttachmentData::kept ? g_mime_stream_mem_new() : g_mime_stream_null_new());
      g_mime_object_write_to_stream(GMIME_OBJECT(inner), walk.g->format, sink.get());
      if (walk.data == AttachmentData::kept)
        a.data = stream_bytes(sink.get());
      else
        a.size = static_cast<std::size_t>(GMIME_STREAM_NULL(sink.get())->written);
    }
    if (walk.data == AttachmentData::kept) a.size = a.data.size();
    out.attachments.push_back(std::move(a));
    return;
  }
  if (!GMIME_IS_PART(part)) return;  // multiparts: their children are visited next
  auto* leaf = GMIME_PART(part);
  const char* filename = g_mime_part_get_filename(leaf);
  std::string fixed_filename;
  if (has_b_word_bug()) fixed_filename = redecoded_filename(part, *walk.g);
  if (!fixed_filename.empty()) filename = fixed_filename.c_str();
  auto* type = g_mime_object_get_content_type(part);
  bool plain = type && g_mime_content_type_is_type(type, "text", "plain");
  bool html = type && g_mime_content_type_is_type(type, "text", "html");
  if ((plain || html) && !filename && !g_mime_part_is_attachment(leaf)) {
    append_text(plain ? out.text_body : out.html_body, part_text(leaf, *walk.g));
    return;
  }
  ParsedAttachment a;
  a.filename = filename ? filename : "";
  a.content_type = mime_type(part);
  if (walk.data == AttachmentData::kept) {
    a.data = decoded_bytes(leaf);
    a.size = a.data.size();
  } else if (walk.data == AttachmentData::to_file) {
    auto* content = g_mime_part_get_content(leaf);
    std::tie(a.offset, a.size) =
        to_file(walk, [&](GMimeStream* s) { return content ? g_mime_data_wrapper_write_to_stream(content, s) : 0; });
  } else {
    a.size = decoded_size(g_mime_part_get_content(leaf));
  }
  out.attachments.push_back(std::move(a));
}

std::string addresses(InternetAddressList* list) {
  if (!list || internet_address_list_length(list) == 0) return {};
  GText text(internet_address_list_to_string(list, nullptr, FALSE));
  return text ? text.get() : "";
}

// Every `name` header of the message, parsed as one address list.
std::string addresses(GMimeMessage* message, const char* name, GMimeAddressType type, const Gmime& g) {
  if (has_b_word_bug()) {
    auto* headers = g_mime_object_get_header_list(GMIME_OBJECT(message));
    std::string joined;
    bool fixed_any = false;
    for (int i = 0; i < g_mime_header_list_get_count(headers); ++i) {
      auto* header = g_mime_header_list_get_header_at(headers, i);
      const char* raw = g_mime_header_get_raw_value(header);
      if (!raw || !ascii_iequal(g_mime_header_get_name(header), name)) continue;
      auto fixed = split_padded_b_runs(raw);
      fixed_any = fixed_any || fixed.has_value();
      if (!joined.empty()) joined += ',';
      joined += fixed ? *fixed : std::string(raw);
    }
    if (fixed_any) {
      GRef<InternetAddressList> list(internet_address_list_parse(g.parser, joined.c_str()));
      return addresses(list.get());
    }
  }
  return addresses(g_mime_message_get_addresses(message, type));
}

std::string subject(GMimeMessage* message, const Gmime& g) {
  if (const char* raw = raw_header(GMIME_OBJECT(message), "Subject")) {
    if (auto fixed = split_padded_b_runs(raw)) {
      GText unfolded(g_mime_utils_header_unfold(fixed->c_str()));
      GText decoded(g_mime_utils_header_decode_text(g.parser, unfolded.get()));
      if (decoded) return decoded.get();
    }
  }
  const char* value = g_mime_message_get_subject(message);
  return value ? value : "";
}

// The message read from `stream` (persisted: parts stay ranges of it, nothing is copied).
ParsedMessage parse_stream(GMimeStream* stream, std::size_t raw_size, AttachmentData data, const AttachmentFile& file) {
  if (data == AttachmentData::to_file && !file) throw std::invalid_argument("AttachmentData::to_file needs a file");
  const auto& g = gmime();
  GRef<GMimeParser> parser(g_mime_parser_new_with_stream(stream));
  g_mime_parser_set_format(parser.get(), GMIME_FORMAT_MESSAGE);
  g_mime_parser_set_persist_stream(parser.get(), TRUE);
  GRef<GMimeMessage> message(g_mime_parser_construct_message(parser.get(), g.parser));
  if (!message)
    throw ParseError("GMime could not parse the message (" + std::to_string(raw_size) + " bytes): no header block found.");

  ParsedMessage out;
  out.raw_size = raw_size;
  if (const char* id = g_mime_message_get_message_id(message.get()); id && *id) out.message_id = "<" + std::string(id) + ">";
  out.from = addresses(message.get(), "From", GMIME_ADDRESS_TYPE_FROM, g);
  out.to = addresses(message.get(), "To", GMIME_ADDRESS_TYPE_TO, g);
  out.cc = addresses(message.get(), "Cc", GMIME_ADDRESS_TYPE_CC, g);
  out.subject = subject(message.get(), g);
  if (auto* date = g_mime_message_get_date(message.get())) {
    GDate utc(g_date_time_to_utc(date));
    GText text(utc ? g_date_time_format(utc.get(), "%Y-%m-%dT%H:%M:%SZ") : nullptr);
    if (text) out.date = text.get();
  }
  Walk walk{&out, &g, data, &file};
  g_mime_message_foreach(message.get(), visit, &walk);
  if (walk.error) std::rethrow_exception(walk.error);
  return out;
}

}  // namespace

ParsedMessage parse(std::string_view raw, AttachmentData data, const AttachmentFile& file) {
  gmime();  // before the first GMime object (its types are registered there)
  GRef<GMimeStream> stream(g_mime_stream_mem_new_with_buffer(raw.data(), raw.size()));
  return parse_stream(stream.get(), raw.size(), data, file);
}

ParsedMessage parse_file(int fd, std::size_t size, AttachmentData data, const AttachmentFile& file) {
  gmime();
  const int own = ::dup(fd);  // the stream closes its descriptor
  if (own < 0) throw ParseError("cannot read the spooled message: " + std::string(std::strerror(errno)));
  GRef<GMimeStream> stream(g_mime_stream_fs_new_with_bounds(own, 0, static_cast<gint64>(size)));
  return parse_stream(stream.get(), size, data, file);
}

}  // namespace juniper::mail::mime
