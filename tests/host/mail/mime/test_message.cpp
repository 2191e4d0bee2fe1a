#include "mail/mime/message.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <random>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace juniper::mail::mime;
using namespace std::string_literals;

namespace {

OutgoingMessage basic() {
  OutgoingMessage m;
  m.from = "\"John Doe\" <notifications@example.com>";
  m.to = {"alice@example.com"};
  m.subject = "Hello";
  m.text_body = "Hello Alice\n";
  return m;
}

// The header block, up to (not including) the blank line.
std::string headers_of(const std::string& wire) {
  auto end = wire.find("\r\n\r\n");
  REQUIRE(end != std::string::npos);
  return wire.substr(0, end + 2);
}

// The unfolded value of the first `name` header in the top-level block.
std::string header(const std::string& wire, const std::string& name) {
  std::string block = headers_of(wire);
  std::string lower_block = "\r\n" + block, lower_name = "\r\n" + name + ":";
  std::transform(lower_block.begin(), lower_block.end(), lower_block.begin(), ::tolower);
  std::transform(lower_name.begin(), lower_name.end(), lower_name.begin(), ::tolower);
  auto pos = lower_block.find(lower_name);  // offset in `block` of the name
  if (pos == std::string::npos) return {};
  std::string value;
  std::size_t i = pos + lower_name.size() - 2;
  for (;;) {
    auto eol = block.find("\r\n", i);
    value += block.substr(i, eol - i);
    i = eol + 2;
    if (i >= block.size() || (block[i] != ' ' && block[i] != '\t')) break;
  }
  auto first = value.find_first_not_of(' ');
  return first == std::string::npos ? std::string() : value.substr(first);
}

std::vector<std::string> lines_of(const std::string& wire) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < wire.size()) {
    auto end = wire.find("\r\n", start);
    REQUIRE(end != std::string::npos);  // the message ends with CRLF
    lines.push_back(wire.substr(start, end - start));
    start = end + 2;
  }
  return lines;
}

void require_wire_format(const std::string& wire) {
  REQUIRE(!wire.empty());
  REQUIRE(wire.size() >= 2);
  CHECK(wire.substr(wire.size() - 2) == "\r\n");
  for (std::size_t i = 0; i < wire.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(wire[i]);
    INFO("byte " << i);
    REQUIRE(c < 0x80);                                                     // 7bit
    REQUIRE(c != 0);                                                       // no NUL
    if (c == '\n') REQUIRE((i > 0 && wire[i - 1] == '\r'));                // no bare LF
    if (c == '\r') REQUIRE((i + 1 < wire.size() && wire[i + 1] == '\n'));  // no bare CR
  }
  for (const auto& line : lines_of(wire)) {
    INFO(line.substr(0, 60));
    REQUIRE(line.size() <= 998);
  }
}

std::string random_bytes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string out(n, '\0');
  for (auto& c : out) c = static_cast<char>(rng() & 0xff);
  return out;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), ::tolower);
  return s;
}

bool is_iso_utc(const std::string& s) { return std::regex_match(s, std::regex(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z)")); }

}  // namespace

TEST_CASE("UTF-8 subject is RFC 2047-encoded on the wire and decoded back", "[mime][build][parse]") {
  auto m = basic();
  m.subject = "Café – ünïcode ✓";
  auto wire = build(m);
  require_wire_format(wire);
  auto subject = header(wire, "Subject");
  CHECK(lower(subject).find("=?utf-8?") == 0);
  CHECK(subject.find("Caf\xc3") == std::string::npos);
  CHECK(parse(wire).subject == "Café – ünïcode ✓");

  m.subject = "Plain ASCII subject";
  wire = build(m);
  CHECK(header(wire, "Subject") == "Plain ASCII subject");
  CHECK(parse(wire).subject == "Plain ASCII subject");
}

TEST_CASE("UTF-8 display names in To and Cc are encoded with GMime and decoded back", "[mime][build][parse]") {
  auto m = basic();
  m.to = {"Zoë <zoe@example.com>", "plain@example.org", "\"Doe, Jane\" <jane@example.net>"};
  m.cc = {"Jürgen Groß <juergen@example.de>, other@example.com"};
  m.reply_to = "Réponse <reply@example.com>";
  auto wire = build(m);
  require_wire_format(wire);
  auto to = header(wire, "To");
  CHECK(lower(to).find("=?utf-8?") != std::string::npos);
  CHECK(to.find("<zoe@example.com>") != std::string::npos);
  CHECK(lower(header(wire, "Reply-To")).find("=?utf-8?") != std::string::npos);

  auto p = parse(wire);
  CHECK(p.to == "Zoë <zoe@example.com>, plain@example.org, \"Doe, Jane\" <jane@example.net>");
  CHECK(p.cc == "Jürgen Groß <juergen@example.de>, other@example.com");
  CHECK(p.from == "John Doe <notifications@example.com>");
}

TEST_CASE("ASCII To and Cc are checked, then written as given on one line", "[mime][build][parse]") {
  auto m = basic();
  m.to = {"\"Doe, Jane\" <jane@example.net>", "<plain@example.org>"};  // GMime would drop the <>
  m.cc = {"Bob <bob@example.com>, other@example.com"};
  auto wire = build(m);
  require_wire_format(wire);
  CHECK(wire.find("\r\nTo: \"Doe, Jane\" <jane@example.net>, <plain@example.org>\r\n") != std::string::npos);
  CHECK(wire.find("\r\nCc: Bob <bob@example.com>, other@example.com\r\n") != std::string::npos);
  auto p = parse(wire);
  CHECK(p.to == "\"Doe, Jane\" <jane@example.net>, plain@example.org");
  CHECK(p.cc == "Bob <bob@example.com>, other@example.com");

  SECTION("an invalid one is still refused") {
    m.to = {"plain@example.org", "not an address at all <<<"};
    CHECK_THROWS_AS(build(m), std::invalid_argument);
  }
  SECTION("a list too long for one line is folded by GMime") {
    m.to.clear();
    for (int i = 0; i < 40; ++i) m.to.push_back("recipient" + std::to_string(i) + "@example.com");
    wire = build(m);
    require_wire_format(wire);
    CHECK(parse(wire).to.find("recipient39@example.com") != std::string::npos);
  }
}

TEST_CASE("From is inserted exactly as the router formatted it", "[mime][build]") {
  auto m = basic();
  m.from = "=?utf-8?b?Wm/Dqw==?= <zoe@example.com>";
  auto wire = build(m);
  CHECK(wire.find("\r\nFrom: =?utf-8?b?Wm/Dqw==?= <zoe@example.com>\r\n") != std::string::npos);
  CHECK(parse(wire).from == "Zoë <zoe@example.com>");

  m.from = "\"John Doe\" <notifications@example.com>";
  wire = build(m);
  CHECK(wire.find("\r\nFrom: \"John Doe\" <notifications@example.com>\r\n") != std::string::npos);

  SECTION("a From that is not header-ready is encoded by GMime instead") {
    m.from = "Zoë <zoe@example.com>";
    wire = build(m);
    require_wire_format(wire);
    CHECK(parse(wire).from == "Zoë <zoe@example.com>");
  }
  SECTION("an empty or unparseable From is refused") {
    m.from = "";
    CHECK_THROWS_AS(build(m), std::invalid_argument);
    m.from = "   ";
    CHECK_THROWS_AS(build(m), std::invalid_argument);
  }
}

TEST_CASE("text-only message", "[mime][build][parse]") {
  auto m = basic();
  m.text_body = "Bonjour Zoë,\n\nLigne deux\r\nLigne trois\rFin\n";
  auto wire = build(m);
  require_wire_format(wire);
  auto type = header(wire, "Content-Type");
  CHECK(type.find("text/plain") == 0);
  CHECK(lower(type).find("charset=utf-8") != std::string::npos);
  CHECK(header(wire, "MIME-Version") == "1.0");
  auto p = parse(wire);
  CHECK(p.text_body == "Bonjour Zoë,\n\nLigne deux\nLigne trois\nFin\n");
  CHECK(p.html_body.empty());
  CHECK(p.attachments.empty());
  CHECK(p.raw_size == wire.size());

  SECTION("ASCII text stays 7bit and readable") {
    m.text_body = "Dear customer,\nyour invoice is attached.\n";
    wire = build(m);
    CHECK(wire.find("Dear customer,\r\nyour invoice is attached.\r\n") != std::string::npos);
    CHECK(parse(wire).text_body == m.text_body);
  }
  SECTION("a line of 5 000 characters is quoted-printable and comes back whole") {
    m.text_body = std::string(5000, 'x') + "\nend\n";
    wire = build(m);
    require_wire_format(wire);
    CHECK(lower(header(wire, "Content-Transfer-Encoding")) == "quoted-printable");
    CHECK(parse(wire).text_body == m.text_body);
  }
}

TEST_CASE("html-only message", "[mime][build][parse]") {
  auto m = basic();
  m.text_body.clear();
  m.html_body = "<html><body><p>Bonjour <b>Zoë</b> – ✓</p></body></html>";
  auto wire = build(m);
  require_wire_format(wire);
  CHECK(header(wire, "Content-Type").find("text/html") == 0);
  CHECK(wire.find("multipart") == std::string::npos);
  auto p = parse(wire);
  CHECK(p.html_body == m.html_body + "\n");  // bodies are sent as lines
  CHECK(p.text_body.empty());
}

TEST_CASE("text and html make multipart/alternative", "[mime][build][parse]") {
  auto m = basic();
  m.text_body = "Hello Zoë\n";
  m.html_body = "<p>Hello <i>Zoë</i></p>";
  auto wire = build(m);
  require_wire_format(wire);
  CHECK(header(wire, "Content-Type").find("multipart/alternative") == 0);
  auto text_at = wire.find("Content-Type: text/plain");
  auto html_at = wire.find("Content-Type: text/html");
  REQUIRE(text_at != std::string::npos);
  REQUIRE(html_at != std::string::npos);
  CHECK(text_at < html_at);  // the preferred version last
  auto p = parse(wire);
  CHECK(p.text_body == m.text_body);
  CHECK(p.html_body == m.html_body + "\n");
  CHECK(p.attachments.empty());
}

TEST_CASE("attachments survive byte for byte", "[mime][build][parse]") {
  std::string all_bytes;
  for (int i = 0; i < 256; ++i) all_bytes += static_cast<char>(i);
  auto m = basic();
  m.html_body = "<p>see attached</p>";
  m.attachments = {
      {"Résumé – été ✓.pdf", "", "%PDF-1.4\0\0\x01\xff"s + all_bytes},
      {"data.bin", "application/x-custom; version=2", random_bytes(30'000, 7)},
      {"notes.txt", "", "line one\nline two\r\nno newline at end"},
      {"", "", "\0"s},
  };
  auto wire = build(m);
  require_wire_format(wire);
  CHECK(header(wire, "Content-Type").find("multipart/mixed") == 0);
  CHECK(wire.find("multipart/alternative") != std::string::npos);
  CHECK(wire.find("filename*=UTF-8''R%C3%A9sum%C3%A9") != std::string::npos);  // RFC 2231

  auto p = parse(wire);
  CHECK(p.text_body == "Hello Alice\n");
  CHECK(p.html_body == "<p>see attached</p>\n");
  REQUIRE(p.attachments.size() == 4);
  CHECK(p.attachments[0].filename == "Résumé – été ✓.pdf");
  CHECK(p.attachments[0].content_type == "application/pdf");  // guessed
  CHECK(p.attachments[0].data == m.attachments[0].data);
  CHECK(p.attachments[0].size == m.attachments[0].data.size());
  CHECK(p.attachments[1].filename == "data.bin");
  CHECK(p.attachments[1].content_type == "application/x-custom");
  CHECK(p.attachments[1].data == m.attachments[1].data);
  CHECK(p.attachments[1].size == 30'000);
  CHECK(p.attachments[2].content_type == "text/plain");
  CHECK(p.attachments[2].data == m.attachments[2].data);  // no newline conversion
  CHECK(p.attachments[3].filename.empty());
  CHECK(p.attachments[3].content_type == "application/octet-stream");
  CHECK(p.attachments[3].data == "\0"s);

  SECTION("from a file, with sizes only: the same message, no attachment bytes held") {
    m.attachments.push_back({"forwarded.eml", "message/rfc822", "Subject: inner\r\n\r\nhi\r\n"});
    wire = build(m);
    std::FILE* f = std::tmpfile();
    REQUIRE(f != nullptr);
    REQUIRE(std::fwrite(wire.data(), 1, wire.size(), f) == wire.size());
    std::fflush(f);
    const auto kept = parse(wire);
    const auto q = parse_file(fileno(f), wire.size(), AttachmentData::size_only);
    std::fclose(f);
    CHECK(q.raw_size == wire.size());
    CHECK(q.subject == kept.subject);
    CHECK(q.from == kept.from);
    CHECK(q.text_body == kept.text_body);
    CHECK(q.html_body == kept.html_body);
    REQUIRE(q.attachments.size() == kept.attachments.size());
    for (std::size_t i = 0; i < q.attachments.size(); ++i) {
      CAPTURE(i);
      CHECK(q.attachments[i].filename == kept.attachments[i].filename);
      CHECK(q.attachments[i].content_type == kept.attachments[i].content_type);
      CHECK(q.attachments[i].size == kept.attachments[i].data.size());
      CHECK(q.attachments[i].data.empty());
    }
    CHECK(q.attachments[1].size == 30'000);
  }
  SECTION("to a file: every attachment's bytes one after the other, each at its offset") {
    m.attachments.push_back({"forwarded.eml", "message/rfc822", "Subject: inner\r\n\r\nhi\r\n"});
    wire = build(m);
    const auto kept = parse(wire);
    std::FILE* out = std::tmpfile();
    REQUIRE(out != nullptr);
    int opened = 0;
    const auto q = parse(wire, AttachmentData::to_file, [&] {
      ++opened;
      return fileno(out);
    });
    CHECK(opened == 1);  // one file for all of them, opened once
    std::string file;
    std::fseek(out, 0, SEEK_END);
    file.resize(static_cast<std::size_t>(std::ftell(out)));
    std::rewind(out);
    REQUIRE(std::fread(file.data(), 1, file.size(), out) == file.size());
    std::fclose(out);
    REQUIRE(q.attachments.size() == kept.attachments.size());
    std::size_t expected_offset = 0;
    for (std::size_t i = 0; i < q.attachments.size(); ++i) {
      CAPTURE(i);
      CHECK(q.attachments[i].offset == expected_offset);
      CHECK(file.substr(q.attachments[i].offset, q.attachments[i].size) == kept.attachments[i].data);
      CHECK(q.attachments[i].data.empty());
      expected_offset += q.attachments[i].size;
    }
    CHECK(file.size() == expected_offset);
    // A message without attachments never opens the file.
    OutgoingMessage plain;
    plain.from = "a@example.com";
    plain.to = {"b@example.com"};
    plain.text_body = "no attachment";
    parse(build(plain), AttachmentData::to_file, [&] {
      ++opened;
      return -1;
    });
    CHECK(opened == 1);
    // The file cannot be made: the parse says so (no exception crosses GMime's C code).
    CHECK_THROWS_WITH(parse(wire, AttachmentData::to_file, []() -> int { throw std::runtime_error("disk full"); }), "disk full");
  }
  SECTION("attachments without any body") {
    m.text_body.clear();
    m.html_body.clear();
    wire = build(m);
    require_wire_format(wire);
    p = parse(wire);
    CHECK(p.text_body.empty());
    CHECK(p.attachments.size() == 4);
  }
  SECTION("a content type that is not type/subtype is refused") {
    m.attachments = {{"x", "nonsense", "x"}};
    CHECK_THROWS_AS(build(m), std::invalid_argument);
  }
}

TEST_CASE("every line is at most 998 bytes and ends with CRLF", "[mime][build]") {
  auto m = basic();
  m.subject = std::string(300, 'S') + " " + std::string(2000, 'w');  // 2000-byte word: GMime encodes it
  m.text_body = std::string(3000, 'a') + "\n" + std::string(1200, 'b');
  m.html_body = "<p>" + std::string(4000, 'h') + "</p>";
  for (int i = 0; i < 200; ++i)
    m.to.push_back("Recipient Number " + std::to_string(i) + " <r" + std::to_string(i) + "@example.com>");
  m.attachments = {{std::string(300, 'f') + "é.txt", "", random_bytes(5000, 3)}};
  m.extra_headers = {{"X-Long", std::string(1500, 'z') + " tail"}, {"X-Words", std::string(3000, ' ') + "x"}};
  auto wire = build(m);
  require_wire_format(wire);
  auto p = parse(wire);
  CHECK(p.subject == m.subject);
  CHECK(p.text_body == m.text_body + "\n");
  CHECK(p.attachments.at(0).filename == m.attachments[0].filename);

  SECTION("an extra header longer than a line is folded by GMime, never sent as a long line") {
    auto n = basic();
    n.extra_headers = {{"X-Long-Token", std::string(1200, 'u')}};
    require_wire_format(build(n));
  }
}

TEST_CASE("a long subject is folded and unfolds to the original", "[mime][build][parse]") {
  auto m = basic();
  m.subject =
      "Quotation SO0042 for Azure Interior: 12 office chairs, 3 standing desks and the usual "
      "delivery and installation terms, valid until the end of the month";
  auto wire = build(m);
  require_wire_format(wire);
  auto block = headers_of(wire);
  auto at = block.find("Subject: ");
  REQUIRE(at != std::string::npos);
  auto first_end = block.find("\r\n", at);
  CHECK(first_end - at <= 78);
  CHECK((block[first_end + 2] == ' ' || block[first_end + 2] == '\t'));  // continued
  CHECK(parse(wire).subject == m.subject);

  m.subject = "Café ✓ " + std::string("ünïcödé wörds répétés ") +
              "again and again, ünïcödé wörds répétés "
              "again and again, ünïcödé wörds répétés again and again, ünïcödé wörds répétés";
  wire = build(m);
  require_wire_format(wire);
  auto subject_lines = 0;
  for (const auto& line : lines_of(headers_of(wire))) {
    if (line.rfind("Subject:", 0) == 0 || (subject_lines > 0 && (line[0] == ' ' || line[0] == '\t'))) {
      ++subject_lines;
      CHECK(line.size() <= 78);
    } else if (subject_lines > 0)
      break;
  }
  CHECK(subject_lines > 1);
  CHECK(parse(wire).subject == m.subject);
}

TEST_CASE("Message-ID and Date are present and well formed", "[mime][build][parse]") {
  auto m = basic();
  auto wire = build(m);
  auto id = header(wire, "Message-ID");
  CHECK(std::regex_match(id, std::regex(R"(<[0-9a-f]{32}@example\.com>)")));
  auto date = header(wire, "Date");
  CHECK(std::regex_match(date, std::regex(R"([A-Z][a-z]{2}, \d{1,2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} [+-]\d{4})")));
  auto p = parse(wire);
  CHECK(p.message_id == id);
  CHECK(is_iso_utc(p.date));

  m.message_id = "<given.123@example.org>";
  m.date = "Wed, 25 Nov 2026 14:44:56 +0100";
  wire = build(m);
  CHECK(header(wire, "Message-ID") == "<given.123@example.org>");
  CHECK(header(wire, "Date") == "Wed, 25 Nov 2026 14:44:56 +0100");
  p = parse(wire);
  CHECK(p.message_id == "<given.123@example.org>");
  CHECK(p.date == "2026-11-25T13:44:56Z");

  m.message_id = "no-brackets@example.org";
  CHECK_THROWS_AS(build(m), std::invalid_argument);
  m.message_id.clear();
  m.date = "yesterday, around noon";
  CHECK_THROWS_AS(build(m), std::invalid_argument);

  SECTION("make_message_id") {
    std::set<std::string> seen;
    for (int i = 0; i < 1000; ++i) {
      auto generated = make_message_id("mail.example.com");
      REQUIRE(std::regex_match(generated, std::regex(R"(<[0-9a-f]{32}@mail\.example\.com>)")));
      seen.insert(generated);
    }
    CHECK(seen.size() == 1000);
    CHECK(std::regex_match(make_message_id("bücher.example"), std::regex(R"(<[0-9a-f]{32}@xn--bcher-kva\.example>)")));
    CHECK(std::regex_match(make_message_id("[192.0.2.1]"), std::regex(R"(<[0-9a-f]{32}@\[192\.0\.2\.1\]>)")));
    CHECK_THROWS_AS(make_message_id(""), std::invalid_argument);
    CHECK_THROWS_AS(make_message_id("exa mple.com"), std::invalid_argument);
    CHECK_THROWS_AS(make_message_id("a@example.com"), std::invalid_argument);
    CHECK_THROWS_AS(make_message_id(".example.com"), std::invalid_argument);
    CHECK_THROWS_AS(make_message_id("example.com>\r\nBcc: x@y"), std::invalid_argument);
  }
  SECTION("the domain falls back to localhost without a usable From domain") {
    m = basic();
    m.from = "undisclosed-recipients:;";  // a group: no mailbox, no domain
    wire = build(m);
    CHECK(std::regex_match(header(wire, "Message-ID"), std::regex(R"(<[0-9a-f]{32}@localhost>)")));
    m.from = "Root <root>";  // no domain
    wire = build(m);
    CHECK(std::regex_match(header(wire, "Message-ID"), std::regex(R"(<[0-9a-f]{32}@localhost>)")));
    m.from = "=?utf-8?q?B=C3=BCcher?= <info@xn--bcher-kva.example>";
    wire = build(m);
    CHECK(std::regex_match(header(wire, "Message-ID"), std::regex(R"(<[0-9a-f]{32}@xn--bcher-kva\.example>)")));
    m.from = "Zoë <zoe@bücher.example>";  // not header-ready: GMime encodes it
    wire = build(m);
    require_wire_format(wire);
    CHECK(std::regex_match(header(wire, "Message-ID"), std::regex(R"(<[0-9a-f]{32}@xn--bcher-kva\.example>)")));
  }
}

TEST_CASE("no Bcc header is ever written", "[mime][build]") {
  auto m = basic();
  m.cc = {"cc@example.com"};
  auto wire = build(m);
  for (const auto& line : lines_of(wire)) CHECK(lower(line).rfind("bcc:", 0) == std::string::npos);
  m.extra_headers = {{"Bcc", "hidden@example.com"}};
  CHECK_THROWS_AS(build(m), std::invalid_argument);
  m.extra_headers = {{"bcc", "hidden@example.com"}};
  CHECK_THROWS_AS(build(m), std::invalid_argument);
}

TEST_CASE("extra headers", "[mime][build]") {
  auto m = basic();
  m.extra_headers = {{"X-Odoo-Objects", "sale.order-42"},
                     {"Return-Path", "bounce+42@example.com"},
                     {"References", "<a@example.com> <b@example.com>"},
                     {"X-Label", "Reçu ✓"}};
  auto wire = build(m);
  require_wire_format(wire);
  CHECK(header(wire, "X-Odoo-Objects") == "sale.order-42");
  CHECK(header(wire, "Return-Path") == "bounce+42@example.com");
  CHECK(header(wire, "References") == "<a@example.com> <b@example.com>");
  CHECK(lower(header(wire, "X-Label")).find("=?utf-8?") == 0);

  // Long ASCII values go out unchanged on one line (GMime would encode the
  // long words, which breaks URLs).
  std::string unsubscribe = "<https://example.com/mail/unsubscribe?token=" + std::string(120, 'u') +
                            ">, <mailto:unsubscribe@example.com?subject=" + std::string(60, 't') + ">";
  m.extra_headers = {{"List-Unsubscribe", unsubscribe}, {"List-Unsubscribe-Post", "List-Unsubscribe=One-Click"}};
  wire = build(m);
  require_wire_format(wire);
  CHECK(wire.find("\r\nList-Unsubscribe: " + unsubscribe + "\r\n") != std::string::npos);
  CHECK(header(wire, "List-Unsubscribe-Post") == "List-Unsubscribe=One-Click");
  m.extra_headers = {{"X-A", "1"}, {"X-A", "2"}};  // repeated names are kept in order
  wire = build(m);
  CHECK(wire.find("\r\nX-A: 1\r\nX-A: 2\r\n") != std::string::npos);

  for (const char* reserved : {"From", "to", "Subject", "Message-Id", "Content-Type", "MIME-Version", "Date"}) {
    m.extra_headers = {{reserved, "x"}};
    CHECK_THROWS_AS(build(m), std::invalid_argument);
  }
}

TEST_CASE("CR, LF and NUL in any header are refused, naming the header", "[mime][build][security]") {
  const std::vector<std::string> bad = {"x\r\nBcc: victim@example.com", "x\nBcc: victim@example.com",
                                        "x\rBcc: victim@example.com", "x\0Bcc: victim@example.com"s};
  auto require_refused = [](const OutgoingMessage& m, const std::string& name) {
    try {
      build(m);
      FAIL("no exception for " << name);
    } catch (const std::invalid_argument& e) {
      INFO(e.what());
      CHECK(std::string(e.what()).find(name) != std::string::npos);
    }
  };
  for (const auto& b : bad) {
    INFO(lower(b).substr(0, 3));
    auto m = basic();
    m.subject = "Hi " + b;
    require_refused(m, "Subject");
    m = basic();
    m.from = "a@example.com" + b;
    require_refused(m, "From");
    m = basic();
    m.to = {"ok@example.com", "bob@example.com" + b};
    require_refused(m, "To");
    m = basic();
    m.cc = {"carl@example.com" + b};
    require_refused(m, "Cc");
    m = basic();
    m.reply_to = "reply@example.com" + b;
    require_refused(m, "Reply-To");
    m = basic();
    m.extra_headers = {{"X-Thing", "value" + b}};
    require_refused(m, "X-Thing");
    m = basic();
    m.extra_headers = {{"X-Thing" + b, "value"}};
    require_refused(m, "X-Thing");
    m = basic();
    m.message_id = "<id@example.com>" + b;
    require_refused(m, "Message-ID");
    m = basic();
    m.date = "Wed, 25 Nov 2026 14:44:56 +0100" + b;
    require_refused(m, "Date");
    m = basic();
    m.attachments = {{"file.pdf" + b, "", "data"}};
    require_refused(m, "filename");
  }
  auto m = basic();
  m.extra_headers = {{"X Space", "v"}};
  CHECK_THROWS_AS(build(m), std::invalid_argument);
  m.extra_headers = {{"X:Colon", "v"}};
  CHECK_THROWS_AS(build(m), std::invalid_argument);
  m.extra_headers = {{"", "v"}};
  CHECK_THROWS_AS(build(m), std::invalid_argument);
  m = basic();
  m.to = {"not an address at all <<<"};
  CHECK_THROWS_AS(build(m), std::invalid_argument);
}

TEST_CASE("ISO-8859-1 parts and headers are returned as UTF-8", "[mime][parse]") {
  std::string raw =
      "From: =?iso-8859-1?q?Fran=E7ois?= <francois@example.fr>\r\n"
      "To: zoe@example.com\r\n"
      "Subject: =?ISO-8859-1?Q?Caf=E9_cr=E8me?=\r\n"
      "Date: Tue, 24 Nov 2026 08:00:00 -0500\r\n"
      "Message-ID: <latin1@example.fr>\r\n"
      "MIME-Version: 1.0\r\n"
      "Content-Type: multipart/alternative; boundary=\"b1\"\r\n"
      "\r\n"
      "--b1\r\n"
      "Content-Type: text/plain; charset=iso-8859-1\r\n"
      "Content-Transfer-Encoding: 8bit\r\n"
      "\r\n"
      "Caf\xe9 cr\xe8me \xe0 volont\xe9\r\n"
      "--b1\r\n"
      "Content-Type: text/html; charset=\"ISO-8859-1\"\r\n"
      "Content-Transfer-Encoding: quoted-printable\r\n"
      "\r\n"
      "<p>Caf=E9 =E0 volont=E9</p>\r\n"
      "--b1--\r\n";
  auto p = parse(raw);
  CHECK(p.from == "François <francois@example.fr>");
  CHECK(p.subject == "Café crème");
  CHECK(p.date == "2026-11-24T13:00:00Z");
  CHECK(p.message_id == "<latin1@example.fr>");
  // The CRLF before a boundary belongs to the boundary.
  CHECK(p.text_body == "Café crème à volonté");
  CHECK(p.html_body == "<p>Café à volonté</p>");
  CHECK(p.raw_size == raw.size());

  SECTION("undeclared 8-bit text falls back to a charset guess, still valid UTF-8") {
    std::string undeclared = "Subject: Caf\xe9\r\nContent-Type: text/plain\r\n\r\nCaf\xe9\r\n";
    auto q = parse(undeclared);
    CHECK(q.subject == "Café");
    CHECK(q.text_body == "Café\n");
  }
  SECTION("a wrong utf-8 declaration does not leak invalid UTF-8") {
    std::string wrong = "Subject: x\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nCaf\xe9\r\n";
    CHECK(parse(wrong).text_body == "Café\n");
  }
}

TEST_CASE("adjacent B-encoded words decode whole (GMime 3.2.13 bug #133 worked around)", "[mime][parse]") {
  std::string raw =
      "From: =?UTF-8?B?SsO8cmdlbg==?= =?UTF-8?B?IEdyb8Of?= <j@example.de>\r\n"
      "To: =?UTF-8?B?WsO2?=\r\n =?utf-8?b?w6s=?= <zoe@example.com>, =?UTF-8?B?SGVsbG8=?=\r\n"
      "\t=?UTF-8?B?IHdvcmxk?= <hw@example.com>\r\n"
      "Cc: plain@example.com\r\n"
      "Subject: =?UTF-8?B?SGVsbG8=?= =?UTF-8?B?IHdvcmxk?= and =?UTF-8?Q?caf=C3=A9?= =?UTF-8?B?IOKckw==?=\r\n"
      "Content-Type: multipart/mixed; boundary=b\r\n"
      "\r\n"
      "--b\r\n"
      "Content-Type: text/plain; charset=utf-8\r\n"
      "\r\n"
      "body\r\n"
      "--b\r\n"
      "Content-Type: application/pdf; name=\"=?UTF-8?B?UsOpc3Vtw6k=?= =?UTF-8?B?LnBkZg==?=\"\r\n"
      "Content-Disposition: attachment;\r\n"
      " filename=\"=?UTF-8?B?UsOpc3Vtw6k=?= =?UTF-8?B?LnBkZg==?=\"\r\n"
      "Content-Transfer-Encoding: base64\r\n"
      "\r\n"
      "JVBERg==\r\n"
      "--b--\r\n";
  auto p = parse(raw);
  CHECK(p.subject == "Hello world and café ✓");
  CHECK(p.from == "Jürgen Groß <j@example.de>");
  CHECK(p.to == "Zöë <zoe@example.com>, Hello world <hw@example.com>");
  CHECK(p.cc == "plain@example.com");
  REQUIRE(p.attachments.size() == 1);
  CHECK(p.attachments[0].filename == "Résumé.pdf");
  CHECK(p.attachments[0].data == "%PDF");
  CHECK(p.text_body == "body");
}

TEST_CASE("messages from elsewhere: nesting, inline parts, forwarded messages", "[mime][parse]") {
  std::string raw =
      "From: a@example.com\n"
      "Subject: nested\n"
      "Content-Type: multipart/mixed; boundary=outer\n"
      "\n"
      "--outer\n"
      "Content-Type: multipart/related; boundary=rel\n"
      "\n"
      "--rel\n"
      "Content-Type: text/html; charset=utf-8\n"
      "\n"
      "<img src=\"cid:logo\">\n"
      "--rel\n"
      "Content-Type: image/png\n"
      "Content-ID: <logo>\n"
      "Content-Transfer-Encoding: base64\n"
      "\n"
      "iVBORw0KGgo=\n"
      "--rel--\n"
      "--outer\n"
      "Content-Type: message/rfc822\n"
      "Content-Disposition: attachment; filename=\"fwd.eml\"\n"
      "\n"
      "From: b@example.com\n"
      "Subject: inner\n"
      "\n"
      "inner body\n"
      "--outer\n"
      "Content-Type: text/plain; name=\"inline.txt\"\n"
      "Content-Disposition: inline; filename*=utf-8''r%C3%A9sum%C3%A9.txt\n"
      "\n"
      "inline text file\n"
      "--outer--\n";
  auto p = parse(raw);
  CHECK(p.html_body == "<img src=\"cid:logo\">");
  CHECK(p.text_body.empty());
  REQUIRE(p.attachments.size() == 3);
  CHECK(p.attachments[0].content_type == "image/png");
  CHECK(p.attachments[0].data == "\x89PNG\r\n\x1a\n");
  CHECK(p.attachments[1].content_type == "message/rfc822");
  CHECK(p.attachments[1].filename == "fwd.eml");
  CHECK(p.attachments[1].data.find("Subject: inner") != std::string::npos);
  CHECK(p.attachments[2].filename == "résumé.txt");
  CHECK(p.attachments[2].data == "inline text file");
}

TEST_CASE("malformed input never crashes", "[mime][parse]") {
  // Documented behaviour: input without any header block throws ParseError;
  // anything GMime can read as a message (even just a header, or a broken
  // multipart) is parsed best-effort with raw_size set.
  for (const std::string& garbage :
       {""s, "garbage garbage garbage"s, "\x01\x02\x03\xff\xfe"s, random_bytes(4096, 11), "no colon here\r\n\r\nbody"s}) {
    CHECK_THROWS_AS(parse(garbage), ParseError);
  }
  CHECK_THROWS_AS(parse(""), std::runtime_error);  // ParseError is a runtime_error

  auto headers_only = parse("Subject: only a header");
  CHECK(headers_only.subject == "only a header");
  CHECK(headers_only.raw_size == 22);

  auto no_headers = parse("\r\njust a body\r\n");
  CHECK(no_headers.raw_size == 15);
  CHECK(no_headers.text_body == "just a body\n");

  auto broken = parse(
      "From: <<<>>>\r\nTo: ,,,@@@\r\nDate: not a date\r\nMessage-ID: garbage\r\n"
      "Content-Type: multipart/mixed; boundary=never\r\n\r\n--never\r\nContent-Type: text/plain\r\n\r\ntruncated");
  CHECK(broken.date.empty());
  CHECK(broken.raw_size > 0);

  // Truncations of a real message at every 97th byte.
  auto m = basic();
  m.html_body = "<p>x</p>";
  m.attachments = {{"a.bin", "", random_bytes(2000, 5)}};
  auto wire = build(m);
  for (std::size_t n = 0; n < wire.size(); n += 97) {
    try {
      auto p = parse(std::string_view(wire).substr(0, n));
      CHECK(p.raw_size == n);
    } catch (const ParseError&) {
    }
  }
}

TEST_CASE("build and parse are safe to run on several threads", "[mime][threads]") {
  auto work = [](unsigned seed, int* failures) {
    for (int i = 0; i < 40; ++i) {
      auto m = basic();
      m.subject = "Thread ✓ " + std::to_string(seed) + "/" + std::to_string(i);
      m.html_body = "<p>Zoë</p>";
      m.attachments = {{"f.bin", "", random_bytes(3000, seed * 100 + static_cast<unsigned>(i))}};
      auto p = parse(build(m));
      if (p.subject != m.subject || p.attachments.at(0).data != m.attachments[0].data) ++*failures;
    }
  };
  int failures[4] = {};
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < 4; ++t) threads.emplace_back(work, t, &failures[t]);
  for (auto& t : threads) t.join();
  CHECK(failures[0] + failures[1] + failures[2] + failures[3] == 0);
}

TEST_CASE("build speed: 43 kB message with a 30 kB attachment", "[.][bench]") {
  auto m = basic();
  m.to = {"Zoë <zoe@example.com>", "bob@example.org"};
  m.subject = "Invoice INV/2026/00042 – Café Zoë";
  std::string paragraph = "Dear Zoë, please find attached your invoice. Don't hesitate to contact us. ";
  m.text_body.clear();
  while (m.text_body.size() < 500) m.text_body += paragraph + "\n";
  m.html_body = "<div style=\"margin:0\">";
  while (m.html_body.size() < 600) m.html_body += "<p>" + paragraph + "</p>\n";
  m.html_body += "</div>";
  m.attachments = {{"INV_2026_00042.pdf", "", random_bytes(30'000, 1)}};
  m.extra_headers = {{"X-Odoo-Objects", "account.move-42"}};

  auto size = build(m).size();
  constexpr int rounds = 2000;
  std::size_t total = 0;
  // Wall and CPU time: on a shared machine the CPU figure is the stable one.
  auto cpu = std::clock();
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < rounds; ++i) total += build(m).size();
  auto wall = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count();
  double cpu_us = static_cast<double>(std::clock() - cpu) * 1e6 / CLOCKS_PER_SEC;
  std::printf("build: %zu bytes, %.1f us wall, %.1f us CPU per build (%d builds)\n", size, wall / rounds, cpu_us / rounds,
              rounds);

  auto wire = build(m);
  cpu = std::clock();
  start = std::chrono::steady_clock::now();
  for (int i = 0; i < rounds; ++i) total += parse(wire).raw_size;
  wall = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count();
  cpu_us = static_cast<double>(std::clock() - cpu) * 1e6 / CLOCKS_PER_SEC;
  std::printf("parse: %.1f us wall, %.1f us CPU per parse\n", wall / rounds, cpu_us / rounds);
  CHECK(total > 0);
}
