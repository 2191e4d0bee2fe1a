// Outgoing message building and incoming message parsing. All MIME work
// (RFC 2047/2231 encoding, transfer encodings, folding, boundaries, charset
// conversion) is GMime's; this layer decides the structure and guards the
// headers.
#pragma once

#include <cstddef>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace juniper::mail::mime {

struct Attachment {
  std::string filename;      // UTF-8; sent RFC 2231-encoded when not ASCII
  std::string content_type;  // "type/subtype[; params]"; guessed from the extension if empty
  std::string data;          // raw bytes; always sent base64 so they come back byte for byte
};

struct OutgoingMessage {
  // The From header value, already RFC 2047-encoded and formatted by the
  // router; inserted as is (GMime refolds it only if it would not fit on
  // one 998-byte line).
  std::string from;
  // Addresses, possibly with UTF-8 display names ("Zoë <zoe@example.com>");
  // an entry may hold a comma-separated list. Encoded by GMime.
  std::vector<std::string> to, cc;
  std::string reply_to;  // an address list like `to`; no header when empty
  std::string subject;   // UTF-8; no header when empty
  // UTF-8. Line ends may be LF, CRLF or CR (sent as CRLF); a final newline
  // is added when missing, so parse() gives the text back with LF line ends
  // and a final LF whatever the structure.
  std::string text_body;
  std::string html_body;                // the same; with text_body -> multipart/alternative
  std::vector<Attachment> attachments;  // -> multipart/mixed
  std::string message_id;               // "<...>"; generated from the From domain when empty
  std::string date;                     // RFC 5322 date; now (UTC) when empty
  // Appended in order after the standard headers. An ASCII value that fits
  // one 998-byte line is written unchanged (URLs in List-Unsubscribe stay
  // intact); any other value is RFC 2047-encoded and folded by GMime. Names
  // build() sets itself (From, To, Cc, Bcc, Reply-To, Subject, Date,
  // Message-ID, MIME-Version, Content-*) are refused.
  std::vector<std::pair<std::string, std::string>> extra_headers;
};

// The message as sent: CRLF line ends, no line over 998 bytes, 7bit-safe
// transfer encodings (quoted-printable/base64 chosen by GMime per body part;
// attachments always base64), MIME-Version, Message-ID and Date. There is no
// Bcc field on purpose, and a Bcc header is never written.
// Throws std::invalid_argument naming the header when a header value contains
// CR, LF or NUL, when an address, date, Message-ID, content type or extra
// header name is unusable, or when a header cannot be folded under 998 bytes.
std::string build(const OutgoingMessage& m);

// "<32 hex digits from RAND_bytes@domain>"; a non-ASCII domain is punycoded
// (by GMime/libidn2). Throws std::invalid_argument when the domain is empty or
// neither a host name (letters, digits, '-', '_', dots) nor an address literal
// ("[192.0.2.1]"), std::runtime_error if OpenSSL has no randomness.
std::string make_message_id(std::string_view domain);

struct ParsedAttachment {
  std::string filename;      // decoded UTF-8 (RFC 2231 / RFC 2047), may be empty
  std::string content_type;  // "type/subtype", lower case
  std::size_t size = 0;      // decoded size
  std::string data;          // decoded bytes (AttachmentData::kept only)
  std::size_t offset = 0;    // AttachmentData::to_file: where its bytes start in the file
};

struct ParsedMessage {
  std::string message_id;    // "<...>" or empty
  std::string from, to, cc;  // decoded UTF-8 address lists ("Zoë <zoe@example.com>, b@x")
  std::string subject;       // decoded UTF-8
  std::string date;          // ISO 8601 UTC "2026-11-25T13:44:56Z", or empty when missing/unparseable
  // UTF-8 converted from the part's charset, LF line ends. Every inline
  // text/plain (text/html) part without a filename contributes, in order;
  // every other leaf part, message/rfc822 included, is an attachment.
  std::string text_body, html_body;
  std::vector<ParsedAttachment> attachments;
  std::size_t raw_size = 0;  // raw.size()
};

class ParseError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Tolerant: missing or broken headers give empty fields, undeclared or wrong
// charsets fall back to GMime's 8-bit decoding (UTF-8, then Windows-1252/
// Latin-1), truncated multiparts give what is there. Input GMime cannot read
// as a message at all (empty input, binary garbage, text whose first line is
// not a header) throws ParseError; input starting with a blank line is a
// message without headers. Works around GMime 3.2.13's loss of text after a
// padded B-encoded word (gmime#133) in Subject, From, To, Cc and filenames.
// What parse() keeps of attachments: their bytes, only their size (a 100 MB attachment is counted
// through GMime's decoder, never held), or their bytes written one after the other into a file
// (`to_file`: ParsedAttachment::offset says where each starts; the fetcher stores them from there).
enum class AttachmentData { kept, size_only, to_file };

// With AttachmentData::to_file: gives the descriptor to write into, opened at the first
// attachment (never for a message without one); the descriptor stays the caller's.
using AttachmentFile = std::function<int()>;

ParsedMessage parse(std::string_view raw, AttachmentData data = AttachmentData::kept, const AttachmentFile& file = {});

// The same, read from the first `size` bytes of an open file (a spooled message; the descriptor
// stays the caller's). Parts are read from the file as needed, not copied into memory.
ParsedMessage parse_file(int fd, std::size_t size, AttachmentData data = AttachmentData::kept, const AttachmentFile& file = {});

}  // namespace juniper::mail::mime
