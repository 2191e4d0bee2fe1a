// IMAP client session for fetching incoming mail (Odoo fetchmail semantics, done the
// cheap way: one connection, BODY.PEEK[] so nothing is marked read before it is stored,
// and one UID STORE per batch).
//
// libcurl does the connection, TLS (certificates always verified) and SASL
// (PLAIN/LOGIN for passwords, XOAUTH2 for bearer tokens).  The commands after login are
// sent over libcurl's connection by this class (CURLOPT_CONNECT_ONLY + curl_easy_send /
// curl_easy_recv): libcurl's own FETCH uses BODY[] (sets \Seen) and its custom requests
// do not deliver literals (see session.cpp).
//
// A Session is not thread-safe; use one per thread.  Any Error of kind connection, tls,
// auth or temporary_auth leaves the session closed (open() again to reconnect); a
// protocol error from a command (tagged NO/BAD) keeps the connection usable.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/spooled.hpp"

namespace juniper::mail::imap {

struct Endpoint {
  std::string host;
  int port = 993;
  bool ssl = true;      // implicit TLS; false = plain IMAP with STARTTLS required
  std::string ca_file;  // extra CA (private CA), system CAs still trusted
  // Connect + TLS + login must finish within this; afterwards, the longest wait for
  // the server to accept or send a byte.
  std::chrono::seconds timeout{60};
  // Messages over `spill_above` bytes are received into an unlinked file here (a private
  // folder) rather than memory; empty: always memory.
  std::filesystem::path spill_dir;
  std::size_t spill_above = 1u << 20;
};

enum class AuthKind { password, xoauth2 };

struct Credentials {
  AuthKind kind = AuthKind::password;
  std::string user;
  std::string secret;  // password or bearer token
};

enum class ErrorKind {
  connection,      // refused, DNS, timeout, connection lost
  tls,             // handshake, certificate, STARTTLS refused, unreadable CA file
  auth,            // credentials refused (NO [AUTHENTICATIONFAILED], curl LOGIN_DENIED)
  temporary_auth,  // NO [UNAVAILABLE]: identity provider / auth backend down, retry later
  protocol,        // anything else: NO/BAD to a command, unparsable data, bad mailbox
};

const char* to_string(ErrorKind kind) noexcept;

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message, std::string server_reply = {});
  ErrorKind kind() const noexcept { return kind_; }
  // The server's last relevant reply, tag removed (e.g. "NO [AUTHENTICATIONFAILED]
  // Authentication failed."); empty when there was none.  Never holds credentials.
  const std::string& server_reply() const noexcept { return server_reply_; }

 private:
  ErrorKind kind_;
  std::string server_reply_;
};

class Session {
 public:
  Session(Endpoint endpoint, Credentials credentials);
  ~Session();  // best-effort LOGOUT if still open
  Session(Session&&) noexcept;
  Session& operator=(Session&&) noexcept;
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Connect, authenticate, SELECT (read-write).  Re-opens if already open.  Throws Error.
  void open(std::string_view mailbox = "INBOX");
  bool is_open() const noexcept;

  // UIDVALIDITY of the selected mailbox (0 before open()).
  std::uint32_t uidvalidity() const;

  // UID SEARCH UNSEEN: ascending, no duplicates.
  std::vector<std::uint32_t> search_unseen();

  // UID FETCH uid BODY.PEEK[]: the raw message, byte for byte; \Seen is not set.
  // Throws Error(protocol) when there is no message with that UID.
  std::string fetch_peek(std::uint32_t uid);

  // The same for a batch, in one command (one round trip; very long non-contiguous
  // sets are split into several pipelined commands).  Ascending UID order; UIDs no
  // longer in the mailbox are left out.  `seen_first`: UIDs marked read (as mark_seen) in the
  // same pipelined exchange, before the fetch: one round trip for both.
  std::vector<std::pair<std::uint32_t, Spooled>> fetch_peek_many(const std::vector<std::uint32_t>& uids,
                                                                 const std::vector<std::uint32_t>& seen_first = {});

  // ONE command: UID STORE <uid-set> +FLAGS.SILENT (\Seen), e.g. "1:3,5,7:9" (a set
  // longer than 8000 characters is split, pipelined).  No-op for an empty list.
  void mark_seen(const std::vector<std::uint32_t>& uids);

  // Sizes in bytes (RFC822.SIZE) of these messages, in one command, so a caller can fetch
  // them in chunks of bounded memory. Messages gone meanwhile are absent.
  std::vector<std::pair<std::uint32_t, std::uint32_t>> sizes(const std::vector<std::uint32_t>& uids);

  // LOGOUT and close.  Never throws; no-op when not open.
  void close();

  // Called with every command line this class sends after login, without tag and CRLF
  // ("UID STORE 1:3,5 +FLAGS.SILENT (\Seen)"), for logs and tests.  The login is done
  // by libcurl and never passes through here, so no credentials do.
  void set_command_observer(std::function<void(std::string_view)> observer);

  // TCP connections this session has made (each open() makes one, failed logins
  // included).
  std::size_t connections_opened() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace juniper::mail::imap
