#include "mail/imap/protocol.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>

namespace juniper::mail::imap::detail {

namespace {

bool ieq(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'a' && x <= 'z') x = static_cast<char>(x - 32);
    if (y >= 'a' && y <= 'z') y = static_cast<char>(y - 32);
    if (x != y) return false;
  }
  return true;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

std::string_view first_word(std::string_view s) {
  auto sp = s.find(' ');
  return sp == std::string_view::npos ? s : s.substr(0, sp);
}

bool is_status_word(std::string_view w) {
  return ieq(w, "OK") || ieq(w, "NO") || ieq(w, "BAD") || ieq(w, "BYE") || ieq(w, "PREAUTH");
}

template <class T>
std::optional<T> parse_number(std::string_view s) {
  if (s.empty() || s.size() > 20) return std::nullopt;
  T v{};
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size()) return std::nullopt;
  return v;
}

// If `line` ends with a literal marker "{n}" / "~{n}", its length.
std::optional<std::size_t> literal_length(std::string_view line) {
  if (line.size() < 3 || line.back() != '}') return std::nullopt;
  auto open = line.rfind('{');
  if (open == std::string_view::npos) return std::nullopt;
  std::string_view digits = line.substr(open + 1, line.size() - open - 2);
  if (digits.empty() || digits.size() > 12 || !std::all_of(digits.begin(), digits.end(), is_digit)) return std::nullopt;
  std::size_t before = open;
  if (before > 0 && line[before - 1] == '~') --before;
  if (before > 0 && line[before - 1] != ' ' && line[before - 1] != '(') return std::nullopt;
  return parse_number<std::size_t>(digits);
}

// Tokenizer over Response::text for FETCH data items.
class Cursor {
 public:
  Cursor(Response& r, std::size_t pos) : r_(r), s_(r.text), p_(pos) {}

  void skip_spaces() {
    while (p_ < s_.size() && s_[p_] == ' ') ++p_;
  }
  bool at_end() const { return p_ >= s_.size(); }
  char peek() const { return p_ < s_.size() ? s_[p_] : '\0'; }
  void expect(char c) {
    skip_spaces();
    if (peek() != c) fail(std::string("expected '") + c + "'");
    ++p_;
  }

  // An attribute name: atom characters, with "[...]" (which may hold spaces and
  // parentheses) and "<...>" taken whole.
  std::string name() {
    skip_spaces();
    std::size_t start = p_;
    int bracket = 0;
    while (p_ < s_.size()) {
      char c = s_[p_];
      if (c == '[')
        ++bracket;
      else if (c == ']')
        --bracket;
      else if (bracket == 0 && (c == ' ' || c == '(' || c == ')'))
        break;
      ++p_;
    }
    if (p_ == start) fail("empty attribute name");
    return std::string(s_.substr(start, p_ - start));
  }

  std::uint32_t number() {
    skip_spaces();
    std::size_t start = p_;
    while (p_ < s_.size() && is_digit(s_[p_])) ++p_;
    auto v = parse_number<std::uint32_t>(s_.substr(start, p_ - start));
    if (!v) fail("expected a number");
    return *v;
  }

  // nstring: NIL, quoted string or literal.
  std::optional<Spooled> nstring() {
    skip_spaces();
    char c = peek();
    if (c == '"') return Spooled(quoted());
    if (c == '{' || c == '~') return literal();
    auto atom = name();
    if (ieq(atom, "NIL")) return std::nullopt;
    fail("expected a string");
  }

  // Any value: atom, number, string, literal or parenthesised list.
  void skip_value() {
    skip_spaces();
    char c = peek();
    if (c == '"') {
      quoted();
    } else if (c == '{' || c == '~') {
      literal();
    } else if (c == '(') {
      ++p_;
      for (;;) {
        skip_spaces();
        if (at_end()) fail("unterminated list");
        if (peek() == ')') {
          ++p_;
          break;
        }
        skip_value();
      }
    } else {
      name();
    }
  }

  [[noreturn]] void fail(const std::string& what) const {
    throw ProtocolError("cannot parse FETCH response (" + what + " at offset " + std::to_string(p_) + ")");
  }

 private:
  std::string quoted() {
    ++p_;  // opening quote
    std::string out;
    while (p_ < s_.size() && s_[p_] != '"') {
      if (s_[p_] == '\\' && p_ + 1 < s_.size()) ++p_;
      out += s_[p_++];
    }
    if (p_ >= s_.size()) fail("unterminated quoted string");
    ++p_;
    return out;
  }
  Spooled literal() {
    if (peek() == '~') ++p_;
    if (peek() != '{') fail("expected a literal");
    auto close = s_.find('}', p_);
    if (close == std::string_view::npos) fail("unterminated literal marker");
    auto n = parse_number<std::size_t>(s_.substr(p_ + 1, close - p_ - 1));
    if (!n || next_literal_ >= r_.literals.size() || r_.literals[next_literal_].size() != *n)
      fail("literal marker without literal");
    p_ = close + 1;
    return std::move(r_.literals[next_literal_++]);
  }

  Response& r_;
  std::string_view s_;
  std::size_t p_;
  std::size_t next_literal_ = 0;
};

}  // namespace

std::string_view Response::status() const {
  if (kind == Kind::continuation) return {};
  auto w = first_word(text);
  if (kind == Kind::tagged || is_status_word(w)) return w;
  return {};
}

ResponseReader::ResponseReader(Source source, std::size_t buffer_size, std::size_t max_line, std::size_t max_literal)
    : source_(std::move(source)), buf_(std::max<std::size_t>(buffer_size, 64)), max_line_(max_line), max_literal_(max_literal) {}

void ResponseReader::fill() {
  if (begin_ == end_) begin_ = end_ = 0;
  if (end_ == buf_.size()) {
    std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  std::size_t got = source_(buf_.data() + end_, buf_.size() - end_);
  if (got == 0 || got > buf_.size() - end_) throw ProtocolError("byte source returned nothing");
  end_ += got;
}

void ResponseReader::read_line(std::string& out) {
  std::size_t start = out.size();
  for (;;) {
    if (begin_ < end_) {
      const char* b = buf_.data() + begin_;
      const void* nl = std::memchr(b, '\n', end_ - begin_);
      std::size_t n = nl ? static_cast<const char*>(nl) - b : end_ - begin_;
      if (out.size() - start + n > max_line_)
        throw ProtocolError("server sent a response line longer than " + std::to_string(max_line_) + " bytes");
      out.append(b, n);
      if (nl) {
        begin_ += n + 1;
        if (out.size() > start && out.back() == '\r') out.pop_back();
        return;
      }
      begin_ = end_ = 0;
    }
    fill();
  }
}

void ResponseReader::spill(std::filesystem::path dir, std::size_t above) {
  spill_dir_ = std::move(dir);
  spill_above_ = above;
}

void ResponseReader::read_literal(Spooled& out, std::size_t n) {
  if (n > max_literal_)
    throw ProtocolError("server announced a literal of " + std::to_string(n) + " bytes (limit " + std::to_string(max_literal_) +
                        ")");
  if (!spill_dir_.empty() && n > spill_above_) {
    // Through the buffer into the file, one buffer at a time.
    out = Spooled::file_in(spill_dir_);
    for (std::size_t have = 0; have < n;) {
      if (begin_ == end_) fill();
      const std::size_t take = std::min(n - have, end_ - begin_);
      out.append(std::string_view(buf_.data() + begin_, take));
      begin_ += take;
      have += take;
    }
    return;
  }
  std::string bytes(n, '\0');
  std::size_t have = std::min(n, end_ - begin_);
  if (have) std::memcpy(bytes.data(), buf_.data() + begin_, have);
  begin_ += have;
  // The rest goes straight into the string; small remainders through the buffer, so
  // that the line after the literal comes along in the same read.
  while (have < n) {
    std::size_t want = n - have;
    if (want < buf_.size() / 4) {
      fill();
      std::size_t take = std::min(want, end_ - begin_);
      std::memcpy(bytes.data() + have, buf_.data() + begin_, take);
      begin_ += take;
      have += take;
    } else {
      std::size_t got = source_(bytes.data() + have, want);
      if (got == 0 || got > want) throw ProtocolError("byte source returned nothing");
      have += got;
    }
  }
  out = Spooled(std::move(bytes));
}

Response ResponseReader::next() {
  Response r;
  std::string line;
  read_line(line);
  std::string_view v = line;
  if (v.substr(0, 2) == "* " || v == "*") {
    r.kind = Response::Kind::untagged;
    v.remove_prefix(std::min<std::size_t>(2, v.size()));
  } else if (v.substr(0, 2) == "+ " || v == "+") {
    r.kind = Response::Kind::continuation;
    v.remove_prefix(std::min<std::size_t>(2, v.size()));
  } else {
    auto sp = v.find(' ');
    if (sp == 0 || sp == std::string_view::npos) throw ProtocolError("unexpected server line: " + std::string(v.substr(0, 200)));
    r.kind = Response::Kind::tagged;
    r.tag = std::string(v.substr(0, sp));
    v.remove_prefix(sp + 1);
  }
  r.text.assign(v);
  // Status responses and continuations carry free text, never literals: a text ending
  // in "{5}" is just text.
  if (r.kind != Response::Kind::untagged || is_status_word(first_word(r.text))) return r;
  for (;;) {
    auto n = literal_length(r.text);
    if (!n) return r;
    r.literals.emplace_back();
    read_literal(r.literals.back(), *n);
    read_line(r.text);
  }
}

std::optional<FetchData> parse_fetch(Response& r) {
  if (r.kind != Response::Kind::untagged) return std::nullopt;
  std::string_view t = r.text;
  auto sp = t.find(' ');
  if (sp == std::string_view::npos) return std::nullopt;
  auto seq = parse_number<std::uint32_t>(t.substr(0, sp));
  if (!seq) return std::nullopt;
  auto rest = t.substr(sp + 1);
  if (!ieq(first_word(rest), "FETCH")) return std::nullopt;
  FetchData d;
  d.seq = *seq;
  Cursor c(r, sp + 1 + 5);
  c.expect('(');
  for (;;) {
    c.skip_spaces();
    if (c.at_end()) c.fail("unterminated attribute list");
    if (c.peek() == ')') break;
    std::string name = c.name();
    if (ieq(name, "UID")) {
      d.uid = c.number();
    } else if (ieq(name, "RFC822.SIZE")) {
      d.size = c.number();
    } else if (ieq(name, "BODY[]") || ieq(name, "BINARY[]") || ieq(name, "RFC822")) {
      d.body = c.nstring();
    } else {
      c.skip_value();
    }
  }
  return d;
}

std::optional<std::vector<std::uint32_t>> parse_search(const Response& r) {
  if (r.kind != Response::Kind::untagged) return std::nullopt;
  std::string_view t = r.text;
  if (!ieq(first_word(t), "SEARCH")) return std::nullopt;
  t.remove_prefix(std::min<std::size_t>(7, t.size()));
  std::vector<std::uint32_t> out;
  while (!t.empty()) {
    auto sp = t.find(' ');
    auto word = t.substr(0, sp);
    if (!word.empty()) {
      if (word.front() == '(') break;  // "(MODSEQ n)" of CONDSTORE
      auto v = parse_number<std::uint32_t>(word);
      if (!v) throw ProtocolError("cannot parse SEARCH response: " + std::string(word));
      out.push_back(*v);
    }
    if (sp == std::string_view::npos) break;
    t.remove_prefix(sp + 1);
  }
  return out;
}

std::optional<std::uint32_t> parse_uidvalidity(const Response& r) {
  if (r.kind != Response::Kind::untagged || !ieq(r.status(), "OK")) return std::nullopt;
  std::string_view t = r.text;
  auto p = t.find("[UIDVALIDITY ");
  if (p == std::string_view::npos) return std::nullopt;
  t.remove_prefix(p + 13);
  return parse_number<std::uint32_t>(t.substr(0, t.find(']')));
}

std::optional<std::uint32_t> parse_exists(const Response& r) {
  if (r.kind != Response::Kind::untagged) return std::nullopt;
  std::string_view t = r.text;
  auto sp = t.find(' ');
  if (sp == std::string_view::npos || !ieq(t.substr(sp + 1), "EXISTS")) return std::nullopt;
  return parse_number<std::uint32_t>(t.substr(0, sp));
}

std::vector<std::string> uid_sets(std::vector<std::uint32_t> uids, std::size_t max_chars) {
  std::sort(uids.begin(), uids.end());
  uids.erase(std::unique(uids.begin(), uids.end()), uids.end());
  if (!uids.empty() && uids.front() == 0) throw std::invalid_argument("IMAP UID 0 does not exist");
  std::vector<std::string> sets;
  std::string cur;
  for (std::size_t i = 0; i < uids.size();) {
    std::size_t j = i;
    while (j + 1 < uids.size() && uids[j + 1] == uids[j] + 1) ++j;
    std::string item = std::to_string(uids[i]);
    if (j > i) {
      item += ':';  // not `":" + to_string()`: GCC 12 -O2 warns (-Wrestrict, bug 105329)
      item += std::to_string(uids[j]);
    }
    if (!cur.empty() && cur.size() + 1 + item.size() > max_chars) {
      sets.push_back(std::move(cur));
      cur.clear();
    }
    if (!cur.empty()) cur += ',';
    cur += item;
    i = j + 1;
  }
  if (!cur.empty()) sets.push_back(std::move(cur));
  return sets;
}

namespace {

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// Modified base64 of UTF-16BE code units: ',' for '/', no padding.
void append_mutf7_run(std::string& out, const std::vector<char16_t>& units) {
  std::string bytes;
  for (char16_t u : units) {
    bytes += static_cast<char>(u >> 8);
    bytes += static_cast<char>(u & 0xff);
  }
  out += '&';
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    unsigned v = (static_cast<unsigned char>(bytes[i]) << 16) | (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                 static_cast<unsigned char>(bytes[i + 2]);
    for (int k = 3; k >= 0; --k) {
      char c = kB64[(v >> (6 * k)) & 63];
      out += c == '/' ? ',' : c;
    }
  }
  std::size_t left = bytes.size() - i;
  if (left) {
    unsigned v = static_cast<unsigned char>(bytes[i]) << 16;
    if (left == 2) v |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    int chars = left == 1 ? 2 : 3;
    for (int k = 0; k < chars; ++k) {
      char c = kB64[(v >> (6 * (3 - k))) & 63];
      out += c == '/' ? ',' : c;
    }
  }
  out += '-';
}

}  // namespace

std::string mailbox_argument(std::string_view name) {
  std::string enc;
  std::vector<char16_t> run;
  auto flush = [&] {
    if (!run.empty()) append_mutf7_run(enc, run);
    run.clear();
  };
  for (std::size_t i = 0; i < name.size();) {
    auto c = static_cast<unsigned char>(name[i]);
    if (c == '\r' || c == '\n' || c == '\0') throw std::invalid_argument("mailbox name contains a line break or NUL");
    if (c >= 0x20 && c < 0x7f) {
      flush();
      enc += static_cast<char>(c);
      if (c == '&') enc += '-';
      ++i;
      continue;
    }
    char32_t cp;
    std::size_t len;
    if (c < 0x80) {
      cp = c;
      len = 1;
    } else if ((c & 0xe0) == 0xc0) {
      cp = c & 0x1f;
      len = 2;
    } else if ((c & 0xf0) == 0xe0) {
      cp = c & 0x0f;
      len = 3;
    } else if ((c & 0xf8) == 0xf0) {
      cp = c & 0x07;
      len = 4;
    } else
      throw std::invalid_argument("mailbox name is not valid UTF-8");
    if (i + len > name.size()) throw std::invalid_argument("mailbox name is not valid UTF-8");
    for (std::size_t k = 1; k < len; ++k) {
      auto cc = static_cast<unsigned char>(name[i + k]);
      if ((cc & 0xc0) != 0x80) throw std::invalid_argument("mailbox name is not valid UTF-8");
      cp = (cp << 6) | (cc & 0x3f);
    }
    if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) throw std::invalid_argument("mailbox name is not valid UTF-8");
    if (cp >= 0x10000) {
      cp -= 0x10000;
      run.push_back(static_cast<char16_t>(0xd800 + (cp >> 10)));
      run.push_back(static_cast<char16_t>(0xdc00 + (cp & 0x3ff)));
    } else {
      run.push_back(static_cast<char16_t>(cp));
    }
    i += len;
  }
  flush();
  std::string out = "\"";
  for (char c : enc) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
  return out;
}

}  // namespace juniper::mail::imap::detail
