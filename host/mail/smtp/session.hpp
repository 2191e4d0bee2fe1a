// SMTP client session on libcurl: one connection reused for every mail of the session,
// STARTTLS / implicit TLS with verified certificates, AUTH PLAIN/LOGIN or XOAUTH2, results
// classified for the mail queue (retry vs. exception) with a sentence for the administrator.
//
// A Session is not thread-safe: use one per thread (or guard it).  Secrets (password, OAuth
// access token) are handed to libcurl only; they never appear in Result::message / ::reply.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace juniper::mail::smtp {

enum class Security { none, starttls, ssl };

struct Endpoint {
  std::string host;
  int port = 25;
  Security security = Security::none;
  std::string ca_file;               // extra CA bundle (private CA); system CAs still trusted
  std::chrono::seconds timeout{60};  // connect, each server reply, and stalled uploads
};

enum class AuthKind { none, password, xoauth2 };

// The words records, modules and juniper.conf use ("none", "starttls", "ssl"; "none",
// "password", "xoauth2"). Anything else is refused with UserError naming the value and the
// choices, never taken to mean plaintext or no login.
Security parse_security(std::string_view word);
AuthKind parse_auth(std::string_view word);

struct Credentials {
  AuthKind kind = AuthKind::none;
  std::string user;
  std::string secret;  // password or OAuth bearer access token
};

struct Outgoing {
  std::string envelope_from;            // "" = null reverse-path <>
  std::vector<std::string> recipients;  // bare addresses (a@b), no display names
  std::string data;                     // full RFC 5322 message with CRLF line ends
  // Called once the body is written, before the final dot that hands the mail over; false:
  // the mail is not handed over (the connection is dropped, the result is `temporary`).
  std::function<bool()> before_dot;
};

enum class Outcome { sent, temporary, permanent, auth_failed, connection_failed, tls_failed };

struct Result {
  Outcome outcome = Outcome::sent;
  int code = 0;                                 // last SMTP reply code, 0 if none
  std::string reply;                            // server's reply text, if any (multi-line replies joined by '\n')
  std::string message;                          // one clear sentence for an administrator: what failed and what to do
  std::vector<std::string> refused_recipients;  // with outcome sent: the others got the mail
  // temporary and connection_failed: retry later; everything else needs a person.
  bool transient() const;
};

// Short lower-case name of an outcome ("sent", "auth_failed", ...), for logs.
std::string_view to_string(Outcome outcome) noexcept;

class Session {
 public:
  Session(Endpoint endpoint, Credentials credentials);  // connects lazily
  ~Session();                                           // QUIT
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
  Session(Session&&) noexcept;
  Session& operator=(Session&&) noexcept;

  // Sends over ONE connection reused for every mail of the session; if the server dropped
  // the idle connection (before any of this mail's data was handed over), reconnects once.
  // Refused recipients do not fail the others: outcome sent + refused_recipients.
  Result send(const Outgoing& mail);

  // Connection test: connect, authenticate, MAIL FROM, RCPT TO, DATA must answer 354; then
  // the connection is dropped without sending any message data (nothing is delivered).
  // Uses its own connection; the session's mail connection is not touched.
  Result test(std::string_view from, std::string_view to);

  // TCP connections opened so far (send and test), counted by libcurl.
  std::size_t connections_opened() const noexcept;

  // QUIT and close the connection (the next send reconnects).
  void close();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace juniper::mail::smtp
