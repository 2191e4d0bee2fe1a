// Response reading and the small formatting helpers, on canned input (no server).
#include <catch2/catch.hpp>

#include <filesystem>

#include "mail/imap/protocol.hpp"

#include <algorithm>

using namespace juniper::mail::imap::detail;

namespace {

// A source handing out `data` at most `chunk` bytes at a time.
ResponseReader::Source chunked(std::string data, std::size_t chunk) {
  auto pos = std::make_shared<std::size_t>(0);
  auto d = std::make_shared<std::string>(std::move(data));
  return [=](char* dst, std::size_t max) -> std::size_t {
    if (*pos >= d->size()) throw std::runtime_error("end of stream");
    std::size_t n = std::min({max, chunk, d->size() - *pos});
    std::copy_n(d->data() + *pos, n, dst);
    *pos += n;
    return n;
  };
}

}  // namespace

TEST_CASE("a FETCH literal is read byte for byte, whatever it holds", "[imap][protocol]") {
  const std::string body =
      "Subject: x\r\n\r\n.\r\n* 9 FETCH (UID 9 BODY[] {3}\r\nJ2 OK fake\r\n"
      "\x80\xff\xe9t\xe9\r\nends with a marker {12}\r\n";
  const std::string stream = "* 1 FETCH (UID 7 BODY[] {" + std::to_string(body.size()) + "}\r\n" + body +
                             ")\r\n* 2 FETCH (FLAGS (\\Seen) UID 8 BODY[] \"quoted\\\"x\")\r\n"
                             "* 3 FETCH (UID 10 BODY[] NIL)\r\nJ2 OK Fetch completed.\r\n";
  for (std::size_t chunk : {std::size_t{1}, std::size_t{2}, std::size_t{7}, std::size_t{4096}}) {
    for (std::size_t bufsize : {std::size_t{64}, std::size_t{256 * 1024}}) {
      CAPTURE(chunk, bufsize);
      ResponseReader rd(chunked(stream, chunk), bufsize);
      Response r1 = rd.next();
      auto f1 = parse_fetch(r1);
      REQUIRE(f1);
      CHECK(f1->seq == 1);
      CHECK(f1->uid == 7u);
      REQUIRE(f1->body);
      CHECK(f1->body->read() == body);
      Response r2 = rd.next();
      auto f2 = parse_fetch(r2);
      REQUIRE(f2);
      CHECK(f2->uid == 8u);
      REQUIRE(f2->body);
      CHECK(f2->body->read() == "quoted\"x");
      Response r3 = rd.next();
      auto f3 = parse_fetch(r3);
      REQUIRE(f3);
      CHECK(f3->uid == 10u);
      CHECK_FALSE(f3->body);
      Response t = rd.next();
      CHECK(t.kind == Response::Kind::tagged);
      CHECK(t.tag == "J2");
      CHECK(t.status() == "OK");
    }
  }
}

TEST_CASE("empty and large literals; other attributes are skipped", "[imap][protocol]") {
  std::string big(300000, 'a');
  for (std::size_t i = 0; i < big.size(); i += 997) big[i] = '\n';
  const std::string stream =
      "* 4 FETCH (UID 1 BODY[] {0}\r\n FLAGS (\\Seen \\Answered) RFC822.SIZE 0)\r\n"
      "* 5 FETCH (BODY[HEADER.FIELDS (SUBJECT FROM)] {5}\r\nab\r\nc UID 2 "
      "INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" BODY[] {" +
      std::to_string(big.size()) + "}\r\n" + big + ")\r\n";
  ResponseReader rd(chunked(stream, 100000));
  Response r1 = rd.next();
  auto f1 = parse_fetch(r1);
  REQUIRE(f1);
  CHECK(f1->uid == 1u);
  REQUIRE(f1->body);
  CHECK(f1->body->size() == 0);
  CHECK(f1->size == std::optional<std::uint32_t>(0u));
  Response r2 = rd.next();
  auto f2 = parse_fetch(r2);
  REQUIRE(f2);
  CHECK(f2->uid == 2u);
  REQUIRE(f2->body);
  CHECK(f2->body->read() == big);
  CHECK_FALSE(f2->size);
}

TEST_CASE("literals over the spill size go to a file, byte for byte; smaller ones stay in memory", "[imap][protocol]") {
  std::string big(700000, 'x');
  for (std::size_t i = 0; i < big.size(); i += 61) big[i] = static_cast<char>(i % 251);  // every byte value, CR and LF too
  const std::string stream = "* 1 FETCH (UID 3 BODY[] {" + std::to_string(big.size()) + "}\r\n" + big +
                             ")\r\n* 2 FETCH (UID 4 BODY[] {5}\r\nsmall)\r\nJ1 OK done\r\n";
  const auto dir = std::filesystem::temp_directory_path();
  for (std::size_t bufsize : {std::size_t{64}, std::size_t{256 * 1024}}) {
    CAPTURE(bufsize);
    ResponseReader rd(chunked(stream, 4099), bufsize);
    rd.spill(dir, 1000);
    Response r1 = rd.next();
    auto f1 = parse_fetch(r1);
    REQUIRE(f1);
    REQUIRE(f1->body);
    CHECK(f1->body->in_file());
    CHECK(f1->body->memory().empty());  // nothing of it held
    CHECK(f1->body->size() == big.size());
    CHECK(f1->body->read() == big);
    Response r2 = rd.next();
    auto f2 = parse_fetch(r2);
    REQUIRE(f2);
    REQUIRE(f2->body);
    CHECK_FALSE(f2->body->in_file());
    CHECK(f2->body->read() == "small");
    CHECK(rd.next().status() == "OK");  // the stream is still in step after the file
  }
}

TEST_CASE("RFC822.SIZE is read, for fetching in chunks of bounded memory", "[imap][protocol]") {
  ResponseReader rd(chunked("* 7 FETCH (UID 31 RFC822.SIZE 20971520)\r\n", 7));
  Response r = rd.next();
  auto f = parse_fetch(r);
  REQUIRE(f);
  CHECK(f->uid == 31u);
  CHECK(f->size == std::optional<std::uint32_t>(20971520u));
}

TEST_CASE("status responses never carry literals", "[imap][protocol]") {
  ResponseReader rd(
      chunked("* OK [ALERT] see {5}\r\nJ1 NO [UNAVAILABLE] try {3}\r\n+ eyJ9\r\n* 3 EXISTS\r\n"
              "* OK [UIDVALIDITY 1795616777] UIDs valid\r\n* SEARCH 3 1 2\r\n* SEARCH\r\n",
              3));
  Response a = rd.next();
  CHECK(a.kind == Response::Kind::untagged);
  CHECK(a.status() == "OK");
  CHECK(a.text == "OK [ALERT] see {5}");
  Response b = rd.next();
  CHECK(b.kind == Response::Kind::tagged);
  CHECK(b.status() == "NO");
  CHECK(b.summary() == "NO [UNAVAILABLE] try {3}");
  Response c = rd.next();
  CHECK(c.kind == Response::Kind::continuation);
  CHECK(c.text == "eyJ9");
  Response d = rd.next();
  CHECK(parse_exists(d) == 3u);
  CHECK_FALSE(parse_fetch(d));
  Response e = rd.next();
  CHECK(parse_uidvalidity(e) == 1795616777u);
  Response f = rd.next();
  CHECK(parse_search(f) == std::vector<std::uint32_t>{3, 1, 2});
  Response g = rd.next();
  CHECK(parse_search(g) == std::vector<std::uint32_t>{});
}

TEST_CASE("malformed input is a ProtocolError, not a crash", "[imap][protocol]") {
  SECTION("unterminated list") {
    ResponseReader rd(chunked("* 1 FETCH (UID 1 BODY[] \"x\"\r\n", 64));
    Response r = rd.next();
    CHECK_THROWS_AS(parse_fetch(r), ProtocolError);
  }
  SECTION("oversized literal") {
    ResponseReader rd(chunked("* 1 FETCH (UID 1 BODY[] {999999999999}\r\n", 64), 1024, 1 << 20, 1 << 20);
    CHECK_THROWS_AS(rd.next(), ProtocolError);
  }
  SECTION("overlong line") {
    ResponseReader rd(chunked("* " + std::string(5000, 'x') + "\r\n", 64), 1024, 1000);
    CHECK_THROWS_AS(rd.next(), ProtocolError);
  }
  SECTION("garbage line") {
    ResponseReader rd(chunked("garbage\r\n", 64));
    CHECK_THROWS_AS(rd.next(), ProtocolError);
  }
}

TEST_CASE("UID sets", "[imap][protocol]") {
  CHECK(uid_sets({9, 1, 2, 3, 5, 7, 8, 3}) == std::vector<std::string>{"1:3,5,7:9"});
  CHECK(uid_sets({42}) == std::vector<std::string>{"42"});
  CHECK(uid_sets({}).empty());
  CHECK(uid_sets({4294967295u, 4294967294u}) == std::vector<std::string>{"4294967294:4294967295"});
  CHECK_THROWS_AS(uid_sets({0, 1}), std::invalid_argument);
  std::vector<std::uint32_t> sparse;
  for (std::uint32_t i = 1; i <= 5000; ++i) sparse.push_back(i * 2);
  auto sets = uid_sets(sparse, 1000);
  CHECK(sets.size() > 1);
  std::size_t items = 0;
  for (auto& s : sets) {
    CHECK(s.size() <= 1000);
    items += static_cast<std::size_t>(std::count(s.begin(), s.end(), ',')) + 1;
  }
  CHECK(items == 5000);
}

TEST_CASE("mailbox names are quoted modified UTF-7", "[imap][protocol]") {
  CHECK(mailbox_argument("INBOX") == "\"INBOX\"");
  CHECK(mailbox_argument("Entwürfe") == "\"Entw&APw-rfe\"");
  CHECK(mailbox_argument("A&B") == "\"A&-B\"");
  CHECK(mailbox_argument("日本語") == "\"&ZeVnLIqe-\"");
  CHECK(mailbox_argument("say \"hi\" \\o/") == "\"say \\\"hi\\\" \\\\o/\"");
  CHECK(mailbox_argument("\xF0\x9F\x98\x80") == "\"&2D3eAA-\"");  // U+1F600, a surrogate pair
  CHECK_THROWS_AS(mailbox_argument("INBOX\r\nA1 DELETE x"), std::invalid_argument);
  CHECK_THROWS_AS(mailbox_argument("\xff"), std::invalid_argument);
}
