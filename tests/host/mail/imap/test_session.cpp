// juniper::mail::imap::Session against a real Dovecot 2.3 (tests/mailstack/).
#include <catch2/catch.hpp>

#include "mail/imap/session.hpp"
#include "mailstack.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <random>

using namespace juniper::mail::imap;
using juniper::test::eventually;
using juniper::test::MailStack;
using juniper::test::unique_address;

namespace {

Endpoint endpoint(MailStack& ms) {
  Endpoint e;
  e.host = "127.0.0.1";
  e.port = ms.port("IMAPS_PORT");
  e.ssl = true;
  e.ca_file = ms["CA_FILE"];
  e.timeout = std::chrono::seconds(30);
  return e;
}

Credentials password(const std::string& user, const std::string& pw) { return Credentials{AuthKind::password, user, pw}; }

Credentials token(const std::string& user, const std::string& t) { return Credentials{AuthKind::xoauth2, user, t}; }

template <class F>
std::optional<Error> error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e;
  }
  return std::nullopt;
}

// The imap process serving `user`'s login: "Login: user=<...>, ..., mpid=N, ..." in Dovecot's log
// (0 while not logged yet).
pid_t imap_process_of(const MailStack& ms, const std::string& user) {
  std::ifstream log(ms["DOVECOT_LOG"]);
  std::string line;
  pid_t pid = 0;
  while (std::getline(log, line)) {
    auto p = line.find("Login: user=<" + user + ">");
    auto m = line.find("mpid=");
    if (p != std::string::npos && m != std::string::npos) pid = std::atoi(line.c_str() + m + 5);
  }
  return pid;
}

std::string at(const Endpoint& e) { return e.host + ":" + std::to_string(e.port); }

std::vector<std::uint32_t> range(std::uint32_t from, std::uint32_t to) {
  std::vector<std::uint32_t> v;
  for (auto i = from; i <= to; ++i) v.push_back(i);
  return v;
}

// A message of exactly `size` bytes: CRLF lines of printable ASCII and 8-bit bytes, with
// lines an IMAP or SMTP parser could trip over (".", "..", "* n FETCH ... {5}", tag-like
// lines, a "{10}" at a line end) and, in the larger ones, a 100 000-byte line.  No NUL,
// no bare CR or LF: Dovecot serves such a file byte for byte.
std::string exact_message(std::size_t size, unsigned seed) {
  std::mt19937 rng(seed);
  std::string m = "Subject: exact " + std::to_string(size) +
                  "\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=latin1\r\n"
                  "Content-Transfer-Encoding: 8bit\r\n\r\n";
  const char* tricky[] = {".",          "..",
                          ". x",        "* 1 FETCH (UID 1 BODY[] {5}",
                          "J3 OK fake", "A004 OK fake",
                          ")",          "ends with a literal marker {10}",
                          "",           "* OK [UIDVALIDITY 1] fake",
                          "+ eyJ9"};
  std::size_t line_no = 0;
  while (m.size() < size) {
    ++line_no;
    if (line_no % 7 == 0) {
      m += tricky[(line_no / 7) % (sizeof tricky / sizeof *tricky)];
    } else if (line_no % 400 == 0 && size - m.size() > 200000) {
      m += std::string(100000, 'L');
    } else {
      std::size_t len = rng() % 200;
      for (std::size_t i = 0; i < len; ++i) {
        unsigned c = rng() % (95 + 128);
        m += static_cast<char>(c < 95 ? 0x20 + c : 0x80 + (c - 95));
      }
    }
    m += "\r\n";
  }
  m.resize(size);
  if (m.back() == '\r') m.back() = 'x';  // no bare CR at the cut
  return m;
}

}  // namespace

TEST_CASE("password login selects INBOX and lists unseen UIDs in ascending order", "[imap][dovecot]") {
  auto& ms = MailStack::get();
  const auto user = unique_address("pw");
  ms.add_user(user, "s3cret-pw");
  for (int i = 0; i < 5; ++i) ms.deliver(user, "Subject: m" + std::to_string(i) + "\r\n\r\nbody\r\n");

  Session s(endpoint(ms), password(user, "s3cret-pw"));
  std::vector<std::string> sent;
  s.set_command_observer([&](std::string_view c) { sent.emplace_back(c); });
  s.open();
  CHECK(s.is_open());
  CHECK(s.uidvalidity() != 0);
  auto uids = s.search_unseen();
  CHECK(uids == range(1, 5));
  CHECK(std::is_sorted(uids.begin(), uids.end()));
  CHECK(s.connections_opened() == 1);
  CHECK(sent == std::vector<std::string>{"SELECT \"INBOX\"", "UID SEARCH UNSEEN"});
  s.close();
  CHECK_FALSE(s.is_open());
  s.close();  // idempotent
}

TEST_CASE("XOAUTH2 login with a token; mail submitted over SMTP arrives intact", "[imap][dovecot]") {
  auto& ms = MailStack::get();
  const auto user = unique_address("carol");
  const std::string msg =
      "From: alice@example.com\r\nTo: " + user + "\r\nSubject: via smtp\r\n\r\nfirst\r\n.\r\n..\r\nlast \xe9t\xe9\r\n";
  ms.submit(user, msg);

  Session s(endpoint(ms), token(user, ms.imap_token(user)));
  s.open();
  auto uids = s.search_unseen();
  REQUIRE(uids.size() == 1);
  auto got = s.fetch_peek(uids[0]);
  CHECK(got.find("Subject: via smtp\r\n") != std::string::npos);
  // Postfix prepends Received: etc.; the body (with its dot lines) is unchanged.
  CHECK(got.size() > msg.size());
  const std::string tail = "\r\n\r\nfirst\r\n.\r\n..\r\nlast \xe9t\xe9\r\n";
  REQUIRE(got.size() > tail.size());
  CHECK(got.substr(got.size() - tail.size()) == tail);
  CHECK(s.search_unseen() == uids);
  CHECK(s.connections_opened() == 1);
}

TEST_CASE("fetch_peek returns the exact bytes and leaves the messages unseen", "[imap][dovecot]") {
  auto& ms = MailStack::get();
  const auto user = unique_address("exact");
  const auto tok = ms.imap_token(user);
  const std::vector<std::size_t> sizes{1, 2, 100, 4096, 65543, 1 << 20, 2 << 20};
  std::vector<std::string> messages;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    messages.push_back(exact_message(sizes[i], static_cast<unsigned>(i + 1)));
    REQUIRE(messages.back().size() == sizes[i]);
    ms.deliver(user, messages.back());
  }
  auto expected_for = [&](const std::string& got) -> const std::string* {
    for (auto& m : messages)
      if (m.size() == got.size()) return &m;
    return nullptr;
  };

  Session s(endpoint(ms), token(user, tok));
  s.open();
  const auto uids = s.search_unseen();
  REQUIRE(uids.size() == sizes.size());

  for (auto uid : uids) {
    CAPTURE(uid);
    const std::string got = s.fetch_peek(uid);
    const std::string* want = expected_for(got);
    REQUIRE(want != nullptr);
    CHECK(got == *want);
  }
  CHECK(s.search_unseen() == uids);  // still unseen

  // The whole batch in one round trip gives the same bytes.
  std::vector<std::string> sent;
  s.set_command_observer([&](std::string_view c) { sent.emplace_back(c); });
  auto batch = s.fetch_peek_many(uids);
  REQUIRE(batch.size() == uids.size());
  for (std::size_t i = 0; i < batch.size(); ++i) {
    CHECK(batch[i].first == uids[i]);
    const std::string* want = expected_for(batch[i].second.read());
    REQUIRE(want != nullptr);
    CHECK(batch[i].second.read() == *want);
  }
  CHECK(sent == std::vector<std::string>{"UID FETCH 1:7 BODY.PEEK[]"});
  CHECK(s.search_unseen() == uids);
  s.close();

  // Still unseen for a new session (the server's state, not the session's).
  Session again(endpoint(ms), token(user, tok));
  again.open();
  CHECK(again.search_unseen() == uids);
}

TEST_CASE("fetch_peek_many leaves out UIDs that are not there; fetch_peek of one throws", "[imap][dovecot]") {
  auto& ms = MailStack::get();
  const auto user = unique_address("missing");
  ms.deliver(user, "Subject: one\r\n\r\n1\r\n");
  ms.deliver(user, "Subject: two\r\n\r\n2\r\n");
  Session s(endpoint(ms), token(user, ms.imap_token(user)));
  s.open();
  auto got = s.fetch_peek_many({2, 40, 1, 2});
  REQUIRE(got.size() == 2);
  CHECK(got[0].first == 1);
  CHECK(got[1].first == 2);
  CHECK(got[1].second.read() == "Subject: two\r\n\r\n2\r\n");
  CHECK(s.fetch_peek_many({}).empty());
  auto e = error_of([&] { s.fetch_peek(99); });
  REQUIRE(e);
  CHECK(e->kind() == ErrorKind::protocol);
  CHECK_THAT(e->what(), Catch::Contains("UID 99"));
  CHECK(s.is_open());  // still usable
  CHECK(s.search_unseen() == range(1, 2));
}

TEST_CASE("mark_seen sets \\Seen on a UID set with one command", "[imap][dovecot]") {
  auto& ms = MailStack::get();
  const auto user = unique_address("seen");
  const auto tok = ms.imap_token(user);
  for (int i = 1; i <= 10; ++i) ms.deliver(user, "Subject: n" + std::to_string(i) + "\r\n\r\nx\r\n");

  Session s(endpoint(ms), token(user, tok));
  s.open();
  REQUIRE(s.search_unseen() == range(1, 10));
  std::vector<std::string> sent;
  s.set_command_observer([&](std::string_view c) { sent.emplace_back(c); });
  s.mark_seen({9, 1, 2, 3, 5, 7, 8});
  CHECK(sent == std::vector<std::string>{"UID STORE 1:3,5,7:9 +FLAGS.SILENT (\\Seen)"});
  CHECK(s.search_unseen() == std::vector<std::uint32_t>{4, 6, 10});
  s.mark_seen({});  // nothing sent
  CHECK(sent.size() == 2);
  s.close();

  Session again(endpoint(ms), token(user, tok));
  again.open();
  CHECK(again.search_unseen() == std::vector<std::uint32_t>{4, 6, 10});
  again.mark_seen({4, 6, 10, 11});  // a UID that is not there is no error
  CHECK(again.search_unseen().empty());
}

TEST_CASE("fetch_peek_many marks the chunk before read in the same exchange, and leaves the fetched ones unseen",
          "[imap][dovecot]") {
  auto& ms = MailStack::get();
  const auto user = unique_address("seenfirst");
  for (int i = 1; i <= 4; ++i) ms.deliver(user, "Subject: n" + std::to_string(i) + "\r\n\r\nx\r\n");
  std::vector<std::string> sent;  // outlives the session, whose logout it also records
  Session s(endpoint(ms), token(user, ms.imap_token(user)));
  s.open();
  s.set_command_observer([&](std::string_view c) { sent.emplace_back(c); });
  const auto got = s.fetch_peek_many({3, 4}, {1, 2});
  REQUIRE(got.size() == 2);
  CHECK(got[0].second.read() == "Subject: n3\r\n\r\nx\r\n");
  // One pipelined exchange, the STORE first.
  CHECK(sent == std::vector<std::string>{"UID STORE 1:2 +FLAGS.SILENT (\\Seen)", "UID FETCH 3:4 BODY.PEEK[]"});
  CHECK(s.search_unseen() == std::vector<std::uint32_t>{3, 4});
  CHECK(s.fetch_peek_many({}, {3}).empty());  // nothing to fetch: still marks
  CHECK(s.search_unseen() == std::vector<std::uint32_t>{4});
}

TEST_CASE("a wrong password is ErrorKind::auth with Dovecot's reply", "[imap][dovecot][errors]") {
  auto& ms = MailStack::get();
  const auto ep = endpoint(ms);
  Session s(ep, password("alice@example.com", "wrong-Passw0rd"));
  auto e = error_of([&] { s.open(); });
  REQUIRE(e);
  CHECK(e->kind() == ErrorKind::auth);
  CHECK(e->server_reply() == "NO [AUTHENTICATIONFAILED] Authentication failed.");
  const std::string what = e->what();
  CHECK_THAT(what, Catch::Contains("NO [AUTHENTICATIONFAILED] Authentication failed."));
  CHECK_THAT(what, Catch::Contains(at(ep)));
  CHECK_THAT(what, Catch::Contains("alice@example.com"));
  CHECK_THAT(what, !Catch::Contains("wrong-Passw0rd"));
  CHECK_FALSE(s.is_open());
  CHECK(s.connections_opened() == 1);
}

TEST_CASE("a bad token is ErrorKind::auth", "[imap][dovecot][errors]") {
  auto& ms = MailStack::get();
  const auto ep = endpoint(ms);
  const auto user = unique_address("badtok");
  const auto other = unique_address("other");

  SECTION("bogus token") {
    const std::string bogus = "EwA-bogus-token-" + std::string(200, 'Q');
    Session s(ep, token(user, bogus));
    auto e = error_of([&] { s.open(); });
    REQUIRE(e);
    CHECK(e->kind() == ErrorKind::auth);
    const std::string what = e->what();
    CHECK_THAT(what, Catch::Contains(at(ep)));
    CHECK_THAT(what, Catch::Contains(R"({"status":"401","schemes":"bearer","scope":"mail"})"));
    CHECK_THAT(what, !Catch::Contains("bogus-token"));
  }
  SECTION("another user's token") {
    const auto t = ms.imap_token(other);
    Session s(ep, token(user, t));
    auto e = error_of([&] { s.open(); });
    REQUIRE(e);
    CHECK(e->kind() == ErrorKind::auth);
    CHECK_THAT(std::string(e->what()), !Catch::Contains(t.substr(0, 40)));
  }
  SECTION("revoked token") {
    const auto t = ms.imap_token(user);
    ms.idp("/_control/revoke", R"({"access_token":")" + t + "\"}");
    Session s(ep, token(user, t));
    auto e = error_of([&] { s.open(); });
    REQUIRE(e);
    CHECK(e->kind() == ErrorKind::auth);
  }
  SECTION("a token as password") {
    Session s(ep, password(user, ms.imap_token(user)));
    auto e = error_of([&] { s.open(); });
    REQUIRE(e);
    CHECK(e->kind() == ErrorKind::auth);
  }
}

TEST_CASE("identity provider answering 503 is ErrorKind::temporary_auth", "[imap][dovecot][errors]") {
  auto& ms = MailStack::get();
  const auto ep = endpoint(ms);
  const auto user = unique_address("tmp");
  const auto t = ms.imap_token(user);
  ms.idp("/_control/inject_error", R"({"endpoint":"tokeninfo","count":1,"status":503})");
  Session s(ep, token(user, t));
  auto e = error_of([&] { s.open(); });
  REQUIRE(e);
  CHECK(e->kind() == ErrorKind::temporary_auth);
  CHECK_THAT(e->server_reply(), Catch::StartsWith("NO [UNAVAILABLE] Temporary authentication failure."));
  CHECK_THAT(std::string(e->what()), Catch::Contains("NO [UNAVAILABLE]"));
  CHECK_THAT(std::string(e->what()), Catch::Contains(at(ep)));
  // The IdP is back: the same session logs in.
  s.open();
  CHECK(s.search_unseen().empty());
  CHECK(s.connections_opened() == 2);
}

TEST_CASE("nothing listening, unknown host: ErrorKind::connection", "[imap][dovecot][errors]") {
  auto& ms = MailStack::get();
  auto ep = endpoint(ms);
  ep.port = ms.port("PORT_BASE") + 1;  // no service of the stack there
  Session s(ep, password("alice@example.com", "alice-password"));
  auto e = error_of([&] { s.open(); });
  REQUIRE(e);
  CHECK(e->kind() == ErrorKind::connection);
  CHECK_THAT(std::string(e->what()), Catch::Contains(at(ep)));

  auto bad = endpoint(ms);
  bad.host = "imap.juniper-test.invalid";
  bad.timeout = std::chrono::seconds(10);
  Session dns(bad, password("alice@example.com", "alice-password"));
  auto e2 = error_of([&] { dns.open(); });
  REQUIRE(e2);
  CHECK(e2->kind() == ErrorKind::connection);
  CHECK_THAT(std::string(e2->what()), Catch::Contains("imap.juniper-test.invalid"));
}

TEST_CASE("a server that never answers: ErrorKind::connection after the timeout", "[imap][errors]") {
  // A listening socket nobody accepts on: the kernel completes the TCP handshake, the
  // TLS ClientHello is never answered.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(fd, 4) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  Endpoint ep;
  ep.host = "127.0.0.1";
  ep.port = ntohs(addr.sin_port);
  ep.timeout = std::chrono::seconds(2);
  Session s(ep, password("alice@example.com", "alice-password"));
  const auto t0 = std::chrono::steady_clock::now();
  auto e = error_of([&] { s.open(); });
  const auto took = std::chrono::steady_clock::now() - t0;
  ::close(fd);
  REQUIRE(e);
  CHECK(e->kind() == ErrorKind::connection);
  CHECK_THAT(std::string(e->what()), Catch::Contains("within 2 s"));
  CHECK(took >= std::chrono::milliseconds(1900));
  CHECK(took < std::chrono::seconds(10));
}

TEST_CASE("a server that stops answering mid-session: ErrorKind::connection after the timeout", "[imap][dovecot][errors]") {
  auto& ms = MailStack::get();
  const auto user = unique_address("frozen");
  auto ep = endpoint(ms);
  ep.timeout = std::chrono::seconds(2);
  Session s(ep, token(user, ms.imap_token(user)));
  s.open();
  pid_t pid = 0;
  eventually([&] { return (pid = imap_process_of(ms, user)) > 0; }, std::chrono::seconds(2));
  REQUIRE(pid > 0);
  REQUIRE(::kill(pid, SIGSTOP) == 0);
  auto e = error_of([&] { s.search_unseen(); });
  ::kill(pid, SIGCONT);
  REQUIRE(e);
  CHECK(e->kind() == ErrorKind::connection);
  CHECK_THAT(std::string(e->what()), Catch::Contains("no answer within 2 s"));
  CHECK_THAT(std::string(e->what()), Catch::Contains("searching for unread messages"));
  CHECK_FALSE(s.is_open());
  s.open();
  CHECK(s.search_unseen().empty());
}

TEST_CASE("certificate problems are ErrorKind::tls", "[imap][dovecot][errors]") {
  auto& ms = MailStack::get();
  SECTION("the stack's private CA is not configured: system CAs only") {
    auto ep = endpoint(ms);
    ep.ca_file.clear();
    Session s(ep, password("alice@example.com", "alice-password"));
    auto e = error_of([&] { s.open(); });
    REQUIRE(e);
    CHECK(e->kind() == ErrorKind::tls);
    CHECK_THAT(std::string(e->what()), Catch::Contains(at(ep)));
    CHECK_THAT(std::string(e->what()), Catch::Contains("certificate"));
  }
  SECTION("unreadable CA file") {
    auto ep = endpoint(ms);
    ep.ca_file = "/nonexistent/ca.pem";
    Session s(ep, password("alice@example.com", "alice-password"));
    auto e = error_of([&] { s.open(); });
    REQUIRE(e);
    CHECK(e->kind() == ErrorKind::tls);
    CHECK_THAT(std::string(e->what()), Catch::Contains("/nonexistent/ca.pem"));
  }
  SECTION("TLS spoken to a plain IMAP port") {
    if (ms.port("IMAP_PORT") == 0) return;  // stack started without PLAIN_IMAP=1
    auto ep = endpoint(ms);
    ep.port = ms.port("IMAP_PORT");
    Session s(ep, password("alice@example.com", "alice-password"));
    auto e = error_of([&] { s.open(); });
    REQUIRE(e);
    CHECK(e->kind() == ErrorKind::tls);
  }
}

TEST_CASE("plain IMAP port with STARTTLS", "[imap][dovecot]") {
  auto& ms = MailStack::get();
  if (ms.port("IMAP_PORT") == 0) {
    WARN("stack without PLAIN_IMAP=1: STARTTLS not tested");
    return;
  }
  auto ep = endpoint(ms);
  ep.port = ms.port("IMAP_PORT");
  ep.ssl = false;
  Session s(ep, password("bob@example.com", "bob-password"));
  s.open();
  CHECK(s.uidvalidity() != 0);
  s.search_unseen();
}

TEST_CASE("a mailbox that does not exist is ErrorKind::protocol", "[imap][dovecot][errors]") {
  auto& ms = MailStack::get();
  Session s(endpoint(ms), password("bob@example.com", "bob-password"));
  auto e = error_of([&] { s.open("No such folder"); });
  REQUIRE(e);
  CHECK(e->kind() == ErrorKind::protocol);
  CHECK_THAT(std::string(e->what()), Catch::Contains("No such folder"));
  CHECK_THAT(e->server_reply(), Catch::StartsWith("NO "));
  CHECK_FALSE(s.is_open());
  s.open("Trash");  // one of the stack's auto-created folders
  CHECK(s.is_open());
  // Modified UTF-7 on the wire; Dovecot names the folder it did not find in UTF-8.
  auto e2 = error_of([&] { s.open("Entwürfe-&-日本"); });
  REQUIRE(e2);
  CHECK(e2->kind() == ErrorKind::protocol);
  CHECK_THAT(e2->server_reply(), Catch::Contains("Entwürfe-&-日本"));
}

TEST_CASE("Dovecot stopped: ErrorKind::connection; started again: a new session works", "[imap][dovecot][errors]") {
  auto& ms = MailStack::get();
  const auto ep = endpoint(ms);
  Session s(ep, password("bob@example.com", "bob-password"));
  s.open();

  ms.run("dovecot.sh stop");
  struct Restart {
    MailStack& ms;
    bool done = false;
    ~Restart() {
      if (!done) try {
          ms.run("dovecot.sh start");
        } catch (...) {
        }
    }
  } restart{ms};

  auto e = error_of([&] { s.search_unseen(); });
  REQUIRE(e);
  CHECK(e->kind() == ErrorKind::connection);
  CHECK_THAT(std::string(e->what()), Catch::Contains(at(ep)));
  CHECK_FALSE(s.is_open());
  auto e1 = error_of([&] { s.search_unseen(); });  // closed now: says so
  REQUIRE(e1);

  Session fresh(ep, password("bob@example.com", "bob-password"));
  auto e2 = error_of([&] { fresh.open(); });
  REQUIRE(e2);
  CHECK(e2->kind() == ErrorKind::connection);

  ms.run("dovecot.sh start");
  restart.done = true;
  Session after(ep, password("bob@example.com", "bob-password"));
  after.open();
  after.search_unseen();
  s.open();  // the old session reconnects
  s.search_unseen();
  CHECK(s.connections_opened() == 2);
}
