// juniper::mail::smtp::Session against real Postfix (STARTTLS, SASL via Dovecot, XOAUTH2
// checked by the simulated identity platform).
#include <catch2/catch.hpp>

#include <algorithm>

#include <chrono>
#include <thread>

#include "mail/smtp/session.hpp"
#include "mailstack.hpp"

using namespace juniper::mail::smtp;
using juniper::test::MailStack;
using juniper::test::test_message;
using juniper::test::unique_address;
using namespace std::chrono_literals;

namespace {

Endpoint starttls_endpoint(bool trust_ca = true) {
  MailStack& s = MailStack::get();
  Endpoint e;
  e.host = "127.0.0.1";
  e.port = s.port("SMTP_PORT");
  e.security = Security::starttls;
  if (trust_ca) e.ca_file = s["CA_FILE"];
  e.timeout = std::chrono::seconds(10);
  return e;
}

Credentials alice() { return {AuthKind::password, "alice@example.com", "alice-password"}; }

Outgoing mail_to(const std::string& rcpt, const std::string& subject, std::size_t size = 600,
                 const std::string& from = "alice@example.com") {
  return {from, {rcpt}, test_message("alice@example.com", rcpt, subject, size)};
}

std::size_t occurrences(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto p = text.find(needle); p != std::string::npos; p = text.find(needle, p + needle.size())) ++n;
  return n;
}

std::string describe(const Result& r) {
  std::string s = std::string(to_string(r.outcome)) + " code=" + std::to_string(r.code) + " reply=[" + r.reply + "] message=[" +
                  r.message + "] refused=";
  for (auto& x : r.refused_recipients) s += x + ",";
  return s;
}

}  // namespace

TEST_CASE("PLAIN login sends; the message arrives with the envelope sender", "[smtp]") {
  MailStack& stack = MailStack::get();
  const std::string rcpt = unique_address("plain");
  const std::string bounce = unique_address("bounces");
  Session session(starttls_endpoint(), alice());
  Outgoing m = mail_to(rcpt, "PLAIN test", 3000, bounce);
  const Result r = session.send(m);
  INFO(describe(r));
  REQUIRE(r.outcome == Outcome::sent);
  CHECK(r.code == 250);
  CHECK(r.reply.find("queued as") != std::string::npos);
  CHECK(r.refused_recipients.empty());
  CHECK_FALSE(r.transient());
  CHECK(session.connections_opened() == 1);

  const auto mails = stack.wait_for_mail(rcpt, 1, 5s);
  REQUIRE(mails.size() == 1);
  const std::string got = mails[0];
  CHECK(got.find("Return-Path: <" + bounce + ">") != std::string::npos);
  CHECK(got.find("Subject: PLAIN test") != std::string::npos);
  // Dot-stuffing done by libcurl and undone by the server: the line is intact.
  CHECK(got.find("\n.leading dot line") != std::string::npos);
  CHECK(got.find("\nend") != std::string::npos);
}

TEST_CASE("lines starting with a dot arrive intact wherever they fall, chunk edges included", "[smtp]") {
  MailStack& stack = MailStack::get();
  const std::string rcpt = unique_address("dots");
  // The client writes the message in pieces of 64 KiB: only short dot lines ("." ".." ".x") near
  // each edge, dot lines elsewhere, and a body that ends without a line end.
  std::string body;
  std::size_t line = 0;
  while (body.size() < 200 * 1024) {
    const std::size_t from_edge = std::min(body.size() % 65536, 65536 - body.size() % 65536);
    if (from_edge < 400) {  // headers and stuffing shift the edges by less: one of these lines is on it
      body += line % 3 == 0 ? "." : line % 3 == 1 ? ".." : ".x";
    } else if (line % 97 == 0) {
      body += ".dot line " + std::to_string(line);
    } else if (line % 193 == 0) {
      body += line % 2 ? "." : "..";
    } else {
      body += "plain line " + std::to_string(line) + " with some text to fill it up";
    }
    body += "\r\n";
    ++line;
  }
  body += ".last line without a line end";
  const std::string data = "From: alice@example.com\r\nTo: " + rcpt + "\r\nSubject: dots\r\n\r\n" + body;
  Session session(starttls_endpoint(), alice());
  const Result r = session.send({"alice@example.com", {rcpt}, data});
  INFO(describe(r));
  REQUIRE(r.outcome == Outcome::sent);
  const auto mails = stack.wait_for_mail(rcpt, 1, 5s);
  REQUIRE(mails.size() == 1);
  std::string got = mails[0];
  got.erase(std::remove(got.begin(), got.end(), '\r'), got.end());
  std::string want = body + "\r\n";
  want.erase(std::remove(want.begin(), want.end(), '\r'), want.end());
  const auto at = got.find("\n\n");
  REQUIRE(at != std::string::npos);
  CHECK(got.substr(at + 2) == want);
}

TEST_CASE("XOAUTH2 with a real token from the identity platform", "[smtp]") {
  MailStack& stack = MailStack::get();
  const std::string user = unique_address("carol");
  const std::string token = stack.smtp_token(user);
  REQUIRE(token.size() > 100);
  const std::string rcpt = unique_address("xoauth");
  Session session(starttls_endpoint(), {AuthKind::xoauth2, user, token});
  const auto mark = stack.postfix_log_mark();
  const Result r = session.send({user, {rcpt}, test_message(user, rcpt, "XOAUTH2 test")});
  INFO(describe(r));
  REQUIRE(r.outcome == Outcome::sent);
  CHECK(stack.wait_for_mail(rcpt, 1, 5s).size() == 1);
  CHECK(stack.wait_for_postfix_log(mark, "sasl_method=XOAUTH2, sasl_username=" + user, 5s));
}

TEST_CASE("200 mails over one session use one connection", "[smtp]") {
  MailStack& stack = MailStack::get();
  const std::string rcpt = unique_address("many");
  const auto mark = stack.postfix_log_mark();
  {
    Session session(starttls_endpoint(), alice());
    for (int i = 0; i < 200; ++i) {
      const Result r = session.send(mail_to(rcpt, "many " + std::to_string(i)));
      INFO(i << ": " << describe(r));
      REQUIRE(r.outcome == Outcome::sent);
    }
    CHECK(session.connections_opened() == 1);
  }  // QUIT
  REQUIRE(stack.wait_for_postfix_log(mark, "disconnect from", 5s));
  const std::string log = stack.postfix_log_since(mark);
  // Only connections count: a disconnect line of an earlier test may land after the mark.
  CHECK(occurrences(log, ": connect from ") == 1);
  CHECK(stack.wait_for_mail(rcpt, 200, 15s).size() == 200);
}

TEST_CASE("bad password: auth_failed with the server's 535, no secret in the message", "[smtp]") {
  const std::string secret = "wrong-Secret-4711";
  Session session(starttls_endpoint(), {AuthKind::password, "alice@example.com", secret});
  const Result r = session.send(mail_to("nobody@example.com", "never"));
  INFO(describe(r));
  CHECK(r.outcome == Outcome::auth_failed);
  CHECK_FALSE(r.transient());
  CHECK(r.code == 535);
  CHECK(r.reply.find("535 5.7.8") != std::string::npos);
  CHECK(r.message.find("535 5.7.8 Error: authentication failed") != std::string::npos);
  CHECK(r.message.find("alice@example.com") != std::string::npos);
  CHECK(r.message.find("127.0.0.1:" + std::to_string(MailStack::get().port("SMTP_PORT"))) != std::string::npos);
  CHECK(r.message.find(secret) == std::string::npos);
  CHECK(r.reply.find(secret) == std::string::npos);
}

TEST_CASE("bad or revoked token: auth_failed, token not in the message", "[smtp]") {
  MailStack& stack = MailStack::get();
  const std::string user = unique_address("dave");
  SECTION("bogus token") {
    const std::string token = "EwA-not-a-real-token-0123456789abcdefghijklmnopqrstuvwxyz";
    Session session(starttls_endpoint(), {AuthKind::xoauth2, user, token});
    const Result r = session.send({user, {"x@example.com"}, test_message(user, "x@example.com", "never")});
    INFO(describe(r));
    CHECK(r.outcome == Outcome::auth_failed);
    CHECK(r.message.find("OAuth") != std::string::npos);
    CHECK(r.message.find(token) == std::string::npos);
    CHECK(r.message.find("EwA-not") == std::string::npos);
    CHECK(r.reply.find(token) == std::string::npos);
  }
  SECTION("another user's token") {
    const std::string token = stack.smtp_token(unique_address("eve"));
    Session session(starttls_endpoint(), {AuthKind::xoauth2, user, token});
    const Result r = session.send({user, {"x@example.com"}, test_message(user, "x@example.com", "never")});
    INFO(describe(r));
    CHECK(r.outcome == Outcome::auth_failed);
    CHECK(r.message.find(token.substr(0, 16)) == std::string::npos);
  }
}

TEST_CASE("wrong port: connection_failed, transient", "[smtp]") {
  Endpoint e = starttls_endpoint();
  e.port = MailStack::get().port("PORT_BASE") + 7;  // nothing listens there
  Session session(e, alice());
  const Result r = session.send(mail_to("x@example.com", "never"));
  INFO(describe(r));
  CHECK(r.outcome == Outcome::connection_failed);
  CHECK(r.transient());
  CHECK(r.code == 0);
  CHECK(r.message == "Cannot connect to 127.0.0.1:" + std::to_string(e.port) +
                         ": connection refused. Check the server address and port, and that the server is running.");
}

TEST_CASE("unresolvable host: connection_failed", "[smtp]") {
  Endpoint e = starttls_endpoint();
  e.host = "no-such-host.invalid";
  Session session(e, alice());
  const Result r = session.send(mail_to("x@example.com", "never"));
  INFO(describe(r));
  CHECK(r.outcome == Outcome::connection_failed);
  CHECK(r.message.find("no-such-host.invalid") != std::string::npos);
}

TEST_CASE("STARTTLS with a certificate from an untrusted CA: tls_failed", "[smtp]") {
  Session session(starttls_endpoint(false), alice());
  const Result r = session.send(mail_to("x@example.com", "never"));
  INFO(describe(r));
  CHECK(r.outcome == Outcome::tls_failed);
  CHECK_FALSE(r.transient());
  CHECK(r.message.find("certificate") != std::string::npos);
  CHECK(r.message.find("CA") != std::string::npos);
}

TEST_CASE("a CA file that cannot be read: tls_failed before connecting", "[smtp]") {
  Endpoint e = starttls_endpoint();
  e.ca_file = "/nonexistent/ca.pem";
  Session session(e, alice());
  const Result r = session.send(mail_to("x@example.com", "never"));
  INFO(describe(r));
  CHECK(r.outcome == Outcome::tls_failed);
  CHECK(r.message.find("/nonexistent/ca.pem") != std::string::npos);
  CHECK(session.connections_opened() == 0);
}

TEST_CASE("security mismatch fails quickly and clearly", "[smtp]") {
  SECTION("implicit TLS against the STARTTLS port") {
    Endpoint e = starttls_endpoint();
    e.security = Security::ssl;
    Session session(e, alice());
    const auto t0 = std::chrono::steady_clock::now();
    const Result r = session.send(mail_to("x@example.com", "never"));
    INFO(describe(r));
    CHECK(r.outcome == Outcome::tls_failed);
    CHECK(r.message.find("security setting") != std::string::npos);
    CHECK(std::chrono::steady_clock::now() - t0 < 5s);
  }
  SECTION("no TLS against a server that requires STARTTLS") {
    Endpoint e = starttls_endpoint();
    e.security = Security::none;
    Session session(e, alice());
    const Result r = session.send(mail_to("x@example.com", "never"));
    INFO(describe(r));
    CHECK(r.outcome == Outcome::tls_failed);
    CHECK(r.message.find("STARTTLS") != std::string::npos);
  }
  SECTION("no TLS, no credentials: Postfix's 530 at MAIL FROM") {
    Endpoint e = starttls_endpoint();
    e.security = Security::none;
    Session session(e, {});
    const Result r = session.send(mail_to("x@example.com", "never"));
    INFO(describe(r));
    CHECK(r.outcome == Outcome::tls_failed);
    CHECK(r.code == 530);
    CHECK(r.message.find("STARTTLS") != std::string::npos);
  }
}

TEST_CASE("test() authenticates and reaches DATA 354 without delivering anything", "[smtp]") {
  MailStack& stack = MailStack::get();
  const std::string rcpt = unique_address("probe");
  const auto mark = stack.postfix_log_mark();
  Session session(starttls_endpoint(), alice());
  const Result r = session.test("alice@example.com", rcpt);
  INFO(describe(r));
  REQUIRE(r.outcome == Outcome::sent);
  CHECK(r.code == 354);
  CHECK(r.message.find("successful") != std::string::npos);
  CHECK(session.connections_opened() == 1);
  // smtpd logs a queued message before the session's disconnect: the log is complete here.
  REQUIRE(stack.wait_for_postfix_log(mark, "disconnect from", 5s));
  const std::string log = stack.postfix_log_since(mark);
  INFO(log);
  CHECK(log.find("queued as") == std::string::npos);
  CHECK(log.find("status=sent") == std::string::npos);
  CHECK(log.find("data=0/1") != std::string::npos);  // DATA answered, never completed

  // The session still sends normally afterwards (its own connection).
  const Result s = session.send(mail_to(rcpt, "after test"));
  INFO(describe(s));
  CHECK(s.outcome == Outcome::sent);
  // Delivered in order after the probe's session: the mailbox holds this mail and nothing else.
  const auto box = stack.wait_for_mail(rcpt, 1, 5s);
  REQUIRE(box.size() == 1);
  CHECK(box[0].find("after test") != std::string::npos);
}

TEST_CASE("test() with a bad password: auth_failed", "[smtp]") {
  Session session(starttls_endpoint(), {AuthKind::password, "alice@example.com", "nope-nope"});
  const Result r = session.test("alice@example.com", "x@example.com");
  INFO(describe(r));
  CHECK(r.outcome == Outcome::auth_failed);
  CHECK(r.code == 535);
  CHECK(r.message.find("nope-nope") == std::string::npos);
}

TEST_CASE("test() with XOAUTH2", "[smtp]") {
  MailStack& stack = MailStack::get();
  const std::string user = unique_address("frank");
  Session good(starttls_endpoint(), {AuthKind::xoauth2, user, stack.smtp_token(user)});
  const Result r = good.test(user, "noreply@example.com");
  INFO(describe(r));
  CHECK(r.outcome == Outcome::sent);
  Session bad(starttls_endpoint(), {AuthKind::xoauth2, user, "bogus-token"});
  const Result b = bad.test(user, "noreply@example.com");
  INFO(describe(b));
  CHECK(b.outcome == Outcome::auth_failed);
}

TEST_CASE("test() against a closed port: connection_failed", "[smtp]") {
  Endpoint e = starttls_endpoint();
  e.port = MailStack::get().port("PORT_BASE") + 7;
  Session session(e, alice());
  const Result r = session.test("alice@example.com", "x@example.com");
  CHECK(r.outcome == Outcome::connection_failed);
}

TEST_CASE("refused recipients", "[smtp]") {
  MailStack& stack = MailStack::get();
  Session session(starttls_endpoint(), alice());
  SECTION("the only recipient is refused: permanent") {
    const Result r = session.send(mail_to("not an address", "never"));
    INFO(describe(r));
    CHECK(r.outcome == Outcome::permanent);
    CHECK(r.code / 100 == 5);
    REQUIRE(r.refused_recipients.size() == 1);
    CHECK(r.refused_recipients[0] == "not an address");
    CHECK(r.message.find("not an address") != std::string::npos);
  }
  SECTION("one of two refused: the other gets the mail") {
    const std::string good = unique_address("good");
    Outgoing m = mail_to(good, "partial");
    m.recipients.push_back("bad address");
    const Result r = session.send(m);
    INFO(describe(r));
    CHECK(r.outcome == Outcome::sent);
    CHECK(r.refused_recipients == std::vector<std::string>{"bad address"});
    CHECK(r.message.find("bad address") != std::string::npos);
    CHECK(stack.wait_for_mail(good, 1, 5s).size() == 1);
    // The connection is still good for the next mail.
    const Result again = session.send(mail_to(good, "next"));
    CHECK(again.outcome == Outcome::sent);
    CHECK(session.connections_opened() == 1);
  }
}

TEST_CASE("a mail over the server's size limit: permanent 552", "[smtp]") {
  MailStack& stack = MailStack::get();
  const long limit = stack.message_size_limit();
  Session session(starttls_endpoint(), alice());
  Outgoing m = mail_to("big@example.com", "too big");
  m.data.append(static_cast<std::size_t>(limit) + 10 - m.data.size(), 'x');
  const Result r = session.send(m);
  INFO(describe(r).substr(0, 500));
  CHECK(r.outcome == Outcome::permanent);
  CHECK(r.code == 552);
  CHECK(r.message.find("size") != std::string::npos);
}

TEST_CASE("invalid input is refused before connecting", "[smtp]") {
  Session session(starttls_endpoint(), alice());
  CHECK(session.send({"alice@example.com", {}, "x\r\n"}).outcome == Outcome::permanent);
  CHECK(session.send({"alice@example.com", {"a@example.com\r\nRCPT TO:<b@example.com>"}, "x\r\n"}).outcome == Outcome::permanent);
  CHECK(session.send({"a\r\nRSET", {"a@example.com"}, "x\r\n"}).outcome == Outcome::permanent);
  CHECK(session.send({"alice@example.com", {"a@example.com"}, ""}).outcome == Outcome::permanent);
  CHECK(session.test("alice@example.com", "x\n").outcome == Outcome::permanent);
  Endpoint e = starttls_endpoint();
  e.host = "bad host/name";
  CHECK(Session(e, alice()).send(mail_to("x@example.com", "never")).outcome == Outcome::permanent);
  CHECK(session.connections_opened() == 0);
}

TEST_CASE("Postfix restarts: the session reconnects", "[smtp][fault]") {
  MailStack& stack = MailStack::get();
  const std::string rcpt = unique_address("restart");
  Session session(starttls_endpoint(), alice());
  REQUIRE(session.send(mail_to(rcpt, "before")).outcome == Outcome::sent);
  REQUIRE(session.connections_opened() == 1);
  // Delivered before Postfix stops (stopped mid-delivery, Postfix may deliver it twice).
  REQUIRE(stack.wait_for_mail(rcpt, 1, 10s).size() >= 1);
  auto arrived_once = [&](const std::string& subject) {
    const auto got = stack.wait_for_mail(rcpt, 2, 10s);
    return std::count_if(got.begin(), got.end(),
                         [&](const std::string& text) { return text.find("Subject: " + subject) != std::string::npos; }) == 1;
  };

  // Postfix must be running again for the following tests, whatever happens here.
  struct Restart {
    ~Restart() {
      try {
        MailStack::get().run("postfix.sh start");
      } catch (...) {
      }
    }
  } restart;

  SECTION("restarted while idle: the next send reconnects transparently") {
    stack.run("postfix.sh stop");
    stack.run("postfix.sh start");
    const Result r = session.send(mail_to(rcpt, "after restart"));
    INFO(describe(r));
    CHECK(r.outcome == Outcome::sent);
    CHECK(session.connections_opened() == 2);
    CHECK(arrived_once("after restart"));
  }
  SECTION("down: connection_failed (transient); back up: the same session sends") {
    stack.run("postfix.sh stop");
    Result r = session.send(mail_to(rcpt, "while down"));
    INFO(describe(r));
    CHECK(r.outcome == Outcome::connection_failed);
    CHECK(r.transient());
    CHECK(r.message.find("connection refused") != std::string::npos);
    stack.run("postfix.sh start");
    r = session.send(mail_to(rcpt, "after start"));
    INFO(describe(r));
    CHECK(r.outcome == Outcome::sent);
    CHECK(arrived_once("after start"));
  }
}

TEST_CASE("close() then send reconnects", "[smtp]") {
  Session session(starttls_endpoint(), alice());
  const std::string rcpt = unique_address("close");
  CHECK(session.send(mail_to(rcpt, "one")).outcome == Outcome::sent);
  session.close();
  CHECK(session.send(mail_to(rcpt, "two")).outcome == Outcome::sent);
  CHECK(session.connections_opened() == 2);
}
