// Failure paths against a scripted fake server (no mail stack needed): "[fake]".
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <thread>

#include "fake_smtp.hpp"
#include "mail/smtp/session.hpp"

using namespace juniper::mail::smtp;
using namespace std::chrono_literals;

namespace {

Endpoint plain(const fake_smtp::Server& s, int timeout = 5) {
  return {"127.0.0.1", s.port(), Security::none, "", std::chrono::seconds(timeout)};
}

Credentials creds() { return {AuthKind::password, "u@fake.test", "p4ssw0rd-secret"}; }

Outgoing mail(std::vector<std::string> rcpts = {"a@fake.test"}) {
  return {"u@fake.test", std::move(rcpts), "Subject: x\r\n\r\nhello\r\n"};
}

// Waits for a condition the fake server reports (a 421 sent, a connection over), never for a
// fixed time; false after `limit`.
template <class P>
bool eventually(P pred, std::chrono::milliseconds limit = 5s) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

// Once the client is gone and the server has finished the connection, nothing more can arrive.
bool finished(const fake_smtp::Server& s) {
  return eventually([&] { return s.connections() > 0 && s.closed() == s.connections(); });
}

std::string describe(const Result& r) {
  return std::string(to_string(r.outcome)) + " code=" + std::to_string(r.code) + " [" + r.message + "]";
}

}  // namespace

TEST_CASE("fake: server drops the idle connection with 421: the next send reconnects once", "[fake]") {
  fake_smtp::Script script;
  script.drop_after_each_message = true;
  fake_smtp::Server server(script);
  Session session(plain(server), creds());
  for (int i = 0; i < 3; ++i) {
    REQUIRE(eventually([&] { return server.dropped() == i && server.closed() == i; }));  // the 421 and the close went out
    const Result r = session.send(mail());
    INFO(i << ": " << describe(r));
    REQUIRE(r.outcome == Outcome::sent);
  }
  CHECK(server.messages() == 3);
  CHECK(session.connections_opened() == 3);
  CHECK(server.connections() == 3);
}

TEST_CASE("fake: 421 pending on a connection that still looks open: one transparent retry", "[fake]") {
  fake_smtp::Script script;
  script.lazy_drop_after_each_message = true;
  fake_smtp::Server server(script);
  Session session(plain(server), creds());
  for (int i = 0; i < 3; ++i) {
    REQUIRE(eventually([&] { return server.dropped() == i; }));  // the 421 waits in the client's socket
    const Result r = session.send(mail());
    INFO(i << ": " << describe(r));
    REQUIRE(r.outcome == Outcome::sent);
  }
  CHECK(server.messages() == 3);
  CHECK(server.connections() == 3);
}

TEST_CASE("fake: drop in the middle of the message is not resent", "[fake]") {
  fake_smtp::Script script;
  script.close_during_body = true;
  fake_smtp::Server server(script);
  Session session(plain(server), creds());
  const Result r = session.send(mail());
  INFO(describe(r));
  CHECK(r.outcome == Outcome::connection_failed);
  CHECK(r.transient());
  CHECK(server.connections() == 1);
}

TEST_CASE("fake: drop in the middle of the message on a reused connection is not resent either", "[fake]") {
  fake_smtp::Script script;
  script.close_during_body_from = 1;
  fake_smtp::Server server(script);
  Session session(plain(server), creds());
  REQUIRE(session.send(mail()).outcome == Outcome::sent);
  const Result r = session.send(mail());
  INFO(describe(r));
  CHECK(r.outcome == Outcome::connection_failed);
  CHECK(r.message.find("the message transfer") != std::string::npos);
  CHECK(server.connections() == 1);  // no second attempt: the server may have the mail
  CHECK(session.connections_opened() == 1);
  CHECK(server.messages() == 1);
}

TEST_CASE("fake: 4xx replies are temporary, 5xx permanent", "[fake]") {
  SECTION("451 at MAIL FROM") {
    fake_smtp::Script s;
    s.mail_reply = "451 4.3.0 Try again later";
    fake_smtp::Server server(s);
    const Result r = Session(plain(server), creds()).send(mail());
    INFO(describe(r));
    CHECK(r.outcome == Outcome::temporary);
    CHECK(r.code == 451);
    CHECK(r.transient());
    CHECK(r.message.find("451 4.3.0 Try again later") != std::string::npos);
  }
  SECTION("553 at MAIL FROM (send-as refused)") {
    fake_smtp::Script s;
    s.mail_reply = "553 5.7.1 Sender address rejected: not owned by user";
    fake_smtp::Server server(s);
    const Result r = Session(plain(server), creds()).send(mail());
    INFO(describe(r));
    CHECK(r.outcome == Outcome::permanent);
    CHECK(r.message.find("sender") != std::string::npos);
    CHECK(r.message.find("u@fake.test may send as") != std::string::npos);
  }
  SECTION("454 at AUTH: temporary") {
    fake_smtp::Script s;
    s.auth_reply = "454 4.7.0 Temporary authentication failure";
    fake_smtp::Server server(s);
    const Result r = Session(plain(server), creds()).send(mail());
    INFO(describe(r));
    CHECK(r.outcome == Outcome::temporary);
    CHECK(r.code == 454);
  }
  SECTION("535 at AUTH: auth_failed, secret not shown") {
    fake_smtp::Script s;
    s.auth_reply = "535 5.7.3 Authentication unsuccessful";
    fake_smtp::Server server(s);
    const Result r = Session(plain(server), creds()).send(mail());
    INFO(describe(r));
    CHECK(r.outcome == Outcome::auth_failed);
    CHECK(r.message.find("535 5.7.3 Authentication unsuccessful") != std::string::npos);
    CHECK(r.message.find("p4ssw0rd") == std::string::npos);
    for (const auto& c : server.commands()) CHECK(c.find("p4ssw0rd") == std::string::npos);
  }
  SECTION("421 greeting: temporary") {
    fake_smtp::Script s;
    s.greeting = "421 4.3.2 Service not available, too many connections";
    fake_smtp::Server server(s);
    const Result r = Session(plain(server), creds()).send(mail());
    INFO(describe(r));
    CHECK(r.outcome == Outcome::temporary);
    CHECK(r.code == 421);
  }
  SECTION("554 greeting: permanent") {
    fake_smtp::Script s;
    s.greeting = "554 5.7.1 No SMTP service here";
    fake_smtp::Server server(s);
    const Result r = Session(plain(server), creds()).send(mail());
    INFO(describe(r));
    CHECK(r.outcome == Outcome::permanent);
    CHECK(r.code == 554);
  }
  SECTION("452 for one of two recipients: sent, refused listed") {
    fake_smtp::Script s;
    s.rcpt_replies["full@fake.test"] = "452 4.2.2 Mailbox full";
    fake_smtp::Server server(s);
    const Result r = Session(plain(server), creds()).send(mail({"a@fake.test", "full@fake.test"}));
    INFO(describe(r));
    CHECK(r.outcome == Outcome::sent);
    CHECK(r.refused_recipients == std::vector<std::string>{"full@fake.test"});
    CHECK(server.messages() == 1);
  }
  SECTION("all recipients refused, one of them 4xx: temporary") {
    fake_smtp::Script s;
    s.rcpt_replies["a@fake.test"] = "550 5.1.1 No such user";
    s.rcpt_replies["b@fake.test"] = "450 4.2.0 Greylisted";
    fake_smtp::Server server(s);
    const Result r = Session(plain(server), creds()).send(mail({"a@fake.test", "b@fake.test"}));
    INFO(describe(r));
    CHECK(r.outcome == Outcome::temporary);
    CHECK(r.refused_recipients.size() == 2);
    CHECK(r.message.find("550 5.1.1 No such user") != std::string::npos);
    CHECK(r.message.find("450 4.2.0 Greylisted") != std::string::npos);
  }
  SECTION("554 after the message") {
    fake_smtp::Script s;
    s.eom_reply = "554 5.6.0 Message rejected as spam";
    fake_smtp::Server server(s);
    const Result r = Session(plain(server), creds()).send(mail());
    INFO(describe(r));
    CHECK(r.outcome == Outcome::permanent);
    CHECK(r.code == 554);
    CHECK(r.message.find("rejected the message") != std::string::npos);
  }
  SECTION("451 after the message") {
    fake_smtp::Script s;
    s.eom_reply = "451 4.3.0 Queue file write error";
    fake_smtp::Server server(s);
    const Result r = Session(plain(server), creds()).send(mail());
    INFO(describe(r));
    CHECK(r.outcome == Outcome::temporary);
    CHECK(r.code == 451);
  }
}

TEST_CASE("fake: STARTTLS required but not offered: tls_failed", "[fake]") {
  fake_smtp::Server server(fake_smtp::Script{});
  Endpoint e = plain(server);
  e.security = Security::starttls;
  const Result r = Session(e, creds()).send(mail());
  INFO(describe(r));
  CHECK(r.outcome == Outcome::tls_failed);
  CHECK(r.message.find("does not offer STARTTLS") != std::string::npos);
  CHECK(server.messages() == 0);
}

TEST_CASE("fake: the server closes the connection in the TLS handshake: connection_failed, retried", "[fake]") {
  // What a stopping Postfix does to a session that just said STARTTLS: not a TLS setting to fix.
  fake_smtp::Script s;
  s.offer_starttls = true;
  s.close_at_starttls = true;
  fake_smtp::Server server(s);
  Endpoint e = plain(server);
  e.security = Security::starttls;
  const Result r = Session(e, creds()).send(mail());
  INFO(describe(r));
  CHECK(r.outcome == Outcome::connection_failed);
  CHECK(r.transient());
  CHECK(server.messages() == 0);
}

TEST_CASE("fake: a server that never greets: connection_failed after the timeout", "[fake]") {
  fake_smtp::Script s;
  s.silent = true;
  fake_smtp::Server server(s);
  const auto t0 = std::chrono::steady_clock::now();
  const Result r = Session(plain(server, 1), creds()).send(mail());
  INFO(describe(r));
  CHECK(r.outcome == Outcome::connection_failed);
  CHECK(r.message.find("no SMTP greeting") != std::string::npos);
  CHECK(std::chrono::steady_clock::now() - t0 < 5s);
}

TEST_CASE("fake: test() stops after 354 and sends no message data", "[fake]") {
  fake_smtp::Server server(fake_smtp::Script{});
  const Result r = Session(plain(server), creds()).test("u@fake.test", "a@fake.test");
  INFO(describe(r));
  CHECK(r.outcome == Outcome::sent);
  CHECK(r.code == 354);
  REQUIRE(finished(server));
  const auto cmds = server.commands();
  const auto data = std::find(cmds.begin(), cmds.end(), "DATA");
  REQUIRE(data != cmds.end());
  for (auto c = data + 1; c != cmds.end(); ++c) CHECK((*c == "RSET" || *c == "QUIT"));  // no message data
  CHECK(server.messages() == 0);
}

TEST_CASE("fake: test() reports a refused test recipient", "[fake]") {
  fake_smtp::Script s;
  s.rcpt_replies["noreply@fake.test"] = "550 5.1.1 User unknown";
  fake_smtp::Server server(s);
  const Result r = Session(plain(server), creds()).test("u@fake.test", "noreply@fake.test");
  INFO(describe(r));
  CHECK(r.outcome == Outcome::permanent);
  CHECK(r.refused_recipients == std::vector<std::string>{"noreply@fake.test"});
  REQUIRE(finished(server));
  const auto cmds = server.commands();
  CHECK(std::find(cmds.begin(), cmds.end(), "DATA") == cmds.end());
}

TEST_CASE("fake: credentials set but no AUTH offered: nothing is sent unauthenticated", "[fake]") {
  fake_smtp::Script s;
  s.offer_auth = false;
  SECTION("send") {
    fake_smtp::Server server(s);
    const Result r = Session(plain(server), creds()).send(mail());
    INFO(describe(r));
    CHECK(r.outcome == Outcome::auth_failed);
    CHECK(r.message.find("does not offer PLAIN or LOGIN") != std::string::npos);
    REQUIRE(finished(server));
    for (const auto& c : server.commands()) CHECK(c.rfind("MAIL", 0) != 0);
    CHECK(server.messages() == 0);
  }
  SECTION("STARTTLS offered, security none: the hint is the security setting") {
    s.offer_starttls = true;
    fake_smtp::Server server(s);
    const Result r = Session(plain(server), creds()).send(mail());
    INFO(describe(r));
    CHECK(r.outcome == Outcome::tls_failed);
    CHECK(r.message.find("only after STARTTLS") != std::string::npos);
  }
  SECTION("test()") {
    fake_smtp::Server server(s);
    const Result r = Session(plain(server), creds()).test("u@fake.test", "a@fake.test");
    INFO(describe(r));
    CHECK(r.outcome == Outcome::auth_failed);
  }
  SECTION("no credentials: sends") {
    fake_smtp::Server server(s);
    const Result r = Session(plain(server), {}).send(mail());
    INFO(describe(r));
    CHECK(r.outcome == Outcome::sent);
    CHECK(server.messages() == 1);
  }
}

TEST_CASE("fake: PIPELINING offered: MAIL, RCPT and DATA go out in one write, each reply read against its command", "[fake]") {
  fake_smtp::Script s;
  s.offer_pipelining = true;
  s.rcpt_replies["gone@fake.test"] = "550 5.1.1 No such user";
  fake_smtp::Server server(s);
  Session session(plain(server), creds());

  const Result some = session.send(mail({"a@fake.test", "gone@fake.test", "b@fake.test"}));
  INFO(describe(some));
  CHECK(some.outcome == Outcome::sent);
  CHECK(some.refused_recipients == std::vector<std::string>{"gone@fake.test"});
  CHECK(server.pipelined() >= 4);  // MAIL and the three RCPTs had DATA behind them

  // Every recipient refused: the reason is the RCPT answers, not DATA's "no valid recipients".
  const Result none = session.send(mail({"gone@fake.test"}));
  INFO(describe(none));
  CHECK(none.outcome == Outcome::permanent);
  CHECK(none.message.find("refused every recipient") != std::string::npos);
  CHECK(none.message.find("550 5.1.1 No such user") != std::string::npos);
  CHECK(none.message.find("no valid recipients") == std::string::npos);

  // The refused transaction was reset; the next mail goes out on the same connection.
  const Result next = session.send(mail());
  INFO(describe(next));
  CHECK(next.outcome == Outcome::sent);
  CHECK(server.messages() == 2);
  CHECK(server.connections() == 1);
  const auto cmds = server.commands();
  CHECK(std::count(cmds.begin(), cmds.end(), "RSET") == 1);
}

TEST_CASE("fake: PIPELINING offered, the sender refused: the owed replies are read, the connection stays usable", "[fake]") {
  fake_smtp::Script s;
  s.offer_pipelining = true;
  s.mail_reply = "553 5.7.1 Sender address rejected: not owned by user";
  fake_smtp::Server server(s);
  Session session(plain(server), creds());
  for (int i = 0; i < 2; ++i) {
    const Result r = session.send(mail({"a@fake.test", "b@fake.test"}));
    INFO(describe(r));
    CHECK(r.outcome == Outcome::permanent);
    CHECK(r.code == 553);  // not the 503 that answered the pipelined RCPT or DATA
    CHECK(r.message.find("refused the sender") != std::string::npos);
  }
  CHECK(server.connections() == 1);
  CHECK(server.messages() == 0);
}

TEST_CASE("fake: without PIPELINING the client waits for each reply", "[fake]") {
  fake_smtp::Script s;  // offers no PIPELINING
  fake_smtp::Server server(s);
  Session session(plain(server), creds());
  const Result r = session.send(mail({"a@fake.test", "b@fake.test", "c@fake.test"}));
  INFO(describe(r));
  CHECK(r.outcome == Outcome::sent);
  CHECK(server.messages() == 1);
  CHECK(server.pipelined() == 0);
}

TEST_CASE("fake: the connection dropped after a refused recipient is a connection failure, retried", "[fake]") {
  fake_smtp::Script s;  // one command at a time: the drop comes before the second RCPT's reply
  s.rcpt_replies["gone@fake.test"] = "550 5.1.1 No such user";
  s.close_at_rcpt = "b@fake.test";
  fake_smtp::Server server(s);
  const Result r = Session(plain(server), creds()).send(mail({"gone@fake.test", "b@fake.test"}));
  INFO(describe(r));
  CHECK(r.outcome == Outcome::connection_failed);  // not "refused every recipient"
  CHECK(r.transient());
  CHECK(server.messages() == 0);
}

TEST_CASE("fake: only a 2xx after the message means sent (a blank line does not)", "[fake]") {
  fake_smtp::Script s;
  s.eom_reply = "";
  fake_smtp::Server server(s);
  const Result r = Session(plain(server), creds()).send(mail());
  INFO(describe(r));
  CHECK(r.outcome != Outcome::sent);
}

TEST_CASE("fake: a mail held back at its final dot is not delivered, and the next send reconnects", "[fake]") {
  fake_smtp::Server server(fake_smtp::Script{});
  Session session(plain(server), creds());
  Outgoing held = mail();
  int calls = 0;
  held.before_dot = [&] {
    ++calls;
    const auto seen = server.commands();
    CHECK(std::count(seen.begin(), seen.end(), "DATA") == 1);  // called inside the transaction, after DATA
    return false;
  };
  const Result r = session.send(held);
  INFO(describe(r));
  CHECK(calls == 1);
  CHECK(r.outcome == Outcome::temporary);
  CHECK(finished(server));  // the connection was dropped mid-DATA: the server discards the message
  CHECK(server.messages() == 0);

  Outgoing next = mail();
  next.before_dot = [&] { return true; };
  const Result again = session.send(next);
  INFO(describe(again));
  CHECK(again.outcome == Outcome::sent);
  CHECK(server.messages() == 1);
  CHECK(server.connections() == 2);
}
