// The small part of IMAP4rev1 (RFC 3501) the session speaks itself once libcurl has
// connected, negotiated TLS and authenticated: reading responses with their literals,
// picking FETCH data apart, UID sets and mailbox names.  No I/O here: the reader pulls
// bytes from a callback, so all of it can be tested on canned input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "core/spooled.hpp"

namespace juniper::mail::imap::detail {

// Malformed or oversized server data.
class ProtocolError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// One complete server response (RFC 3501 §2.2.2, §7).
struct Response {
  enum class Kind { untagged, tagged, continuation };
  Kind kind = Kind::untagged;
  std::string tag;  // tagged responses only
  // Everything after "* ", "<tag> " or "+ ", lines joined without their CRLF; each
  // literal stays in place as its "{n}" (or "~{n}") marker and its bytes are in
  // `literals`, in order (a big one in a spool file: see ResponseReader::spill).
  std::string text;
  std::vector<Spooled> literals;

  // "OK", "NO", "BAD", "BYE", "PREAUTH" for status responses (tagged, or untagged whose
  // first word is one of those), empty otherwise.
  std::string_view status() const;
  // The response as the server sent it, without literal bytes, for error messages:
  // "NO [AUTHENTICATIONFAILED] Authentication failed." (tag left out).
  std::string_view summary() const { return text; }
};

// Pulls responses out of a byte stream.  `Source` fills up to `max` bytes at `dst` and
// returns how many (> 0); it throws on end of stream, errors and timeouts.  Lines have no
// length limit other than `max_line`; a literal of n bytes is read as exactly n bytes
// (whatever they contain: CR, LF, ".", "* ", a tag, 8-bit bytes), straight into its
// string once the buffered part is used up.
class ResponseReader {
 public:
  using Source = std::function<std::size_t(char* dst, std::size_t max)>;

  explicit ResponseReader(Source source, std::size_t buffer_size = 256 * 1024, std::size_t max_line = 64u << 20,
                          std::size_t max_literal = 1u << 30);

  Response next();

  // From now on, literals over `above` bytes go to an unlinked file in `dir` (mode 0600) as
  // they arrive instead of into memory: a 100 MB message costs a buffer, not 100 MB.
  void spill(std::filesystem::path dir, std::size_t above);

 private:
  void read_line(std::string& out);
  void read_literal(Spooled& out, std::size_t n);
  void fill();

  Source source_;
  std::vector<char> buf_;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
  std::size_t max_line_;
  std::size_t max_literal_;
  std::filesystem::path spill_dir_;
  std::size_t spill_above_ = 0;
};

// Data of one "* n FETCH (...)" response.
struct FetchData {
  std::uint32_t seq = 0;
  std::optional<std::uint32_t> uid;
  std::optional<Spooled> body;        // BODY[] / BINARY[] content (NIL: absent)
  std::optional<std::uint32_t> size;  // RFC822.SIZE
};

// nullopt when the response is not a FETCH response; throws ProtocolError when it is one
// but cannot be parsed.  Literals are moved out of `r`.
std::optional<FetchData> parse_fetch(Response& r);

// Numbers of "* SEARCH n n n" (nullopt for any other response).
std::optional<std::vector<std::uint32_t>> parse_search(const Response& r);

// "[UIDVALIDITY n]" in an untagged OK; "n EXISTS".
std::optional<std::uint32_t> parse_uidvalidity(const Response& r);
std::optional<std::uint32_t> parse_exists(const Response& r);

// Sorted, duplicates dropped, runs collapsed: {9,1,2,3,5,7,8} -> "1:3,5,7:9".
// Split so that no set is longer than `max_chars` (a set of one huge UID list would
// exceed the server's command line limit, 64 kB for Dovecot).  Throws
// std::invalid_argument for UID 0.
std::vector<std::string> uid_sets(std::vector<std::uint32_t> uids, std::size_t max_chars = 8000);

// A mailbox name as an IMAP quoted string, UTF-8 turned into modified UTF-7
// (RFC 3501 §5.1.3).  Throws std::invalid_argument for CR, LF or NUL.
std::string mailbox_argument(std::string_view utf8_name);

// Standard base64 decoding; nullopt if `in` is not base64.

}  // namespace juniper::mail::imap::detail
