// IMAP session on libcurl.
//
// Why CONNECT_ONLY and not CURLOPT_CUSTOMREQUEST (checked against Dovecot 2.3 with
// libcurl 7.88.1):
//  * curl's own FETCH (URL ";UID=n") sends "UID FETCH n BODY[]", which sets \Seen.
//  * A custom request hands only lines starting with "* " to the write callback: the
//    lines of a FETCH literal are dropped (they reach only the header callback), a
//    message line that starts with "* " shows up as if it were a response, a message
//    line starting with curl's current tag ("A004 OK ...") ends the command early and
//    desynchronises the connection, and lines longer than half of CURLOPT_BUFFERSIZE
//    are cut ("Excessive server response line length received").  Custom requests are
//    fine for SEARCH/STORE (and curl keeps the connection and the selected mailbox
//    between performs: SELECT is sent once), but not for message bodies.
//  * With CURLOPT_CONNECT_ONLY, curl_easy_perform() for imap(s) does the whole protocol
//    connect phase (greeting, CAPABILITY, STARTTLS, AUTHENTICATE with SASL-IR) and stops
//    before SELECT; curl_easy_send/recv then carry our commands over the TLS connection.
//    curl treats a CONNECT_ONLY connection as dead when it is closed, so it never sends a
//    LOGOUT of its own (we do).
// The server lines curl reads during login are captured with CURLOPT_HEADERFUNCTION for
// error messages; our own traffic never goes through curl's callbacks.
#include "mail/imap/session.hpp"

#include "core/ca_bundle.hpp"
#include "core/crypto.hpp"

#include "mail/imap/protocol.hpp"

#include <curl/curl.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <fstream>
#include <functional>
#include <mutex>
#include <optional>
#include <sstream>

namespace juniper::mail::imap {

const char* to_string(ErrorKind kind) noexcept {
  switch (kind) {
    case ErrorKind::connection:
      return "connection";
    case ErrorKind::tls:
      return "tls";
    case ErrorKind::auth:
      return "auth";
    case ErrorKind::temporary_auth:
      return "temporary_auth";
    case ErrorKind::protocol:
      return "protocol";
  }
  return "unknown";
}

Error::Error(ErrorKind kind, const std::string& message, std::string server_reply)
    : std::runtime_error(message), kind_(kind), server_reply_(std::move(server_reply)) {}

namespace {

constexpr std::size_t kPipelineBytes = 64 * 1024;  // unanswered command bytes in flight

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// Dovecot's SASL error challenge is base64 (OpenSSL decodes it, via the host's crypto).
std::optional<std::string> base64_decode(std::string_view in) {
  try {
    return crypto::base64_decode(in);
  } catch (const std::invalid_argument&) {
    return std::nullopt;
  }
}

// "A002 NO [X] text" -> "NO [X] text"; "* BYE x" and "+ x" stay as they are.
std::string strip_tag(std::string_view line) {
  if (line.size() >= 2 && (line[0] == '*' || line[0] == '+') && line[1] == ' ') return std::string(line);
  auto sp = line.find(' ');
  return std::string(sp == std::string_view::npos ? line : line.substr(sp + 1));
}

bool contains(std::string_view s, std::string_view what) { return s.find(what) != std::string_view::npos; }

size_t discard_body(char*, size_t size, size_t n, void*) { return size * n; }

}  // namespace

struct Session::Impl {
  Endpoint ep;
  Credentials cred;
  CURL* curl = nullptr;
  curl_socket_t sock = CURL_SOCKET_BAD;
  std::unique_ptr<detail::ResponseReader> reader;
  std::vector<std::string> login_lines;  // server lines during connect + login
  std::string mailbox;
  std::uint32_t uidvalidity = 0;
  std::size_t connections = 0;
  std::uint64_t tag_no = 0;
  std::string bye;    // text of an untagged BYE, if one came
  std::string doing;  // what the current command is for, in error messages
  std::function<void(std::string_view)> observer;
  char errbuf[CURL_ERROR_SIZE] = {};

  Impl(Endpoint e, Credentials c) : ep(std::move(e)), cred(std::move(c)) {}
  ~Impl() { drop(); }

  std::string where() const {
    std::string h = ep.host;
    if (h.find(':') != std::string::npos && h.front() != '[') h = "[" + h + "]";
    return h + ":" + std::to_string(ep.port);
  }

  bool connected() const { return curl != nullptr && reader != nullptr; }

  void drop() noexcept {
    reader.reset();
    if (curl) curl_easy_cleanup(curl);
    curl = nullptr;
    sock = CURL_SOCKET_BAD;
  }

  // Connection-level failure: the connection is closed.
  [[noreturn]] void fail(ErrorKind kind, const std::string& message, std::string reply = {}) {
    drop();
    throw Error(kind, message, std::move(reply));
  }

  // ------------------------------------------------------------------ login (libcurl)

  static size_t on_header(char* data, size_t size, size_t n, void* user) {
    auto* self = static_cast<Impl*>(user);
    std::string_view line(data, size * n);
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
    if (self->login_lines.size() < 64) self->login_lines.emplace_back(line.substr(0, 2000));
    return size * n;
  }

  std::string last_reply() const { return login_lines.empty() ? std::string() : strip_tag(login_lines.back()); }

  std::string offered_mechanisms() const {
    std::string out;
    for (auto it = login_lines.rbegin(); it != login_lines.rend(); ++it) {
      if (!contains(*it, "CAPABILITY")) continue;
      std::istringstream ss(*it);
      std::string w;
      while (ss >> w) {
        if (w.rfind("AUTH=", 0) == 0) {
          if (!w.empty() && w.back() == ']') w.pop_back();
          out += (out.empty() ? "" : " ") + w;
        }
      }
      break;
    }
    return out.empty() ? "none" : out;
  }

  void connect() {
    drop();
    global_init();
    login_lines.clear();
    bye.clear();
    errbuf[0] = '\0';
    curl = curl_easy_init();
    if (!curl) fail(ErrorKind::connection, "Cannot create a libcurl handle (out of memory?).");

    const std::string url = std::string(ep.ssl ? "imaps://" : "imap://") + where() + "/";
    const long secs = static_cast<long>(std::max<std::chrono::seconds::rep>(1, ep.timeout.count()));
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "imap,imaps");
#endif
    curl_easy_setopt(curl, CURLOPT_CONNECT_ONLY, 1L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, secs);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, secs);
    curl_easy_setopt(curl, CURLOPT_SERVER_RESPONSE_TIMEOUT, secs);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, &Impl::on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, this);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &discard_body);

    // TLS: always verified. A private CA is trusted in addition to the system's (tls::Trust).
    if (!ep.ssl) curl_easy_setopt(curl, CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_ALL));
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(curl, CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2));
    std::string err;
    const auto trust = tls::Trust::with(ep.ca_file, err);
    if (!trust)
      fail(ErrorKind::tls, "Cannot read the CA file \"" + ep.ca_file + "\" configured for IMAP server " + where() + " (" + err +
                               "): check the path and its permissions.");
    trust->apply(curl);

    curl_easy_setopt(curl, CURLOPT_USERNAME, cred.user.c_str());
    curl_easy_setopt(curl, CURLOPT_SASL_IR, 1L);
    if (cred.kind == AuthKind::xoauth2) {
      // CURLOPT_HTTPAUTH is left alone: with CURLAUTH_BEARER set, curl would also
      // pick OAUTHBEARER when offered; this way AUTH=XOAUTH2 is the only choice.
      curl_easy_setopt(curl, CURLOPT_XOAUTH2_BEARER, cred.secret.c_str());
      curl_easy_setopt(curl, CURLOPT_LOGIN_OPTIONS, "AUTH=XOAUTH2");
    } else {
      curl_easy_setopt(curl, CURLOPT_PASSWORD, cred.secret.c_str());
      curl_easy_setopt(curl, CURLOPT_LOGIN_OPTIONS, "AUTH=PLAIN;AUTH=LOGIN");
    }

    CURLcode rc = curl_easy_perform(curl);
    long made = 0;
    if (curl_easy_getinfo(curl, CURLINFO_NUM_CONNECTS, &made) == CURLE_OK && made > 0)
      connections += static_cast<std::size_t>(made);
    // Nothing of the credentials stays in the handle longer than needed.
    curl_easy_setopt(curl, CURLOPT_PASSWORD, nullptr);
    curl_easy_setopt(curl, CURLOPT_XOAUTH2_BEARER, nullptr);
    if (rc != CURLE_OK) login_failed(rc);

    curl_socket_t s = CURL_SOCKET_BAD;
    if (curl_easy_getinfo(curl, CURLINFO_ACTIVESOCKET, &s) != CURLE_OK || s == CURL_SOCKET_BAD)
      fail(ErrorKind::connection, "Lost the connection to IMAP server " + where() + " right after login.");
    sock = s;
    reader = std::make_unique<detail::ResponseReader>([this](char* dst, std::size_t max) { return recv_some(dst, max); });
    if (!ep.spill_dir.empty()) reader->spill(ep.spill_dir, ep.spill_above);
  }

  // Long: one message per libcurl outcome of a login, for the administrator.
  [[noreturn]] void login_failed(CURLcode rc) {
    const std::string curl_msg = errbuf[0] ? std::string(errbuf) : curl_easy_strerror(rc);
    const std::string reply = last_reply();
    const std::string at = where();
    const std::string how = cred.kind == AuthKind::xoauth2 ? "OAuth2 token (XOAUTH2)" : "password";
    switch (rc) {
      case CURLE_COULDNT_RESOLVE_HOST:
      case CURLE_COULDNT_RESOLVE_PROXY:
        fail(ErrorKind::connection,
             "Cannot resolve the host name of IMAP server " + at + " (" + curl_msg + "): check the server name.");
      case CURLE_COULDNT_CONNECT:
        fail(ErrorKind::connection, "Cannot connect to IMAP server " + at + " (" + curl_msg +
                                        "): check the server name and port, and that the server is running "
                                        "and reachable.");
      case CURLE_OPERATION_TIMEDOUT:
        fail(ErrorKind::connection,
             "IMAP server " + at + " did not complete the connection and login within " + std::to_string(ep.timeout.count()) +
                 " s (" + curl_msg + (reply.empty() ? "" : "; last reply: " + reply) +
                 "): check the server name, port and SSL setting, or try again later.",
             reply);
      case CURLE_GOT_NOTHING:
      case CURLE_RECV_ERROR:
      case CURLE_SEND_ERROR:
      case CURLE_PARTIAL_FILE:
        fail(ErrorKind::connection,
             "IMAP server " + at + " closed the connection during login (" + curl_msg +
                 (reply.empty() ? "" : "; last reply: " + reply) + "): check the port and SSL setting, or try again later.",
             reply);
      case CURLE_USE_SSL_FAILED:
        fail(ErrorKind::tls,
             "IMAP server " + at + " does not offer STARTTLS (" + curl_msg +
                 "): enable SSL/TLS (usually port 993) or STARTTLS on the server; "
                 "Juniper never logs in without TLS.",
             reply);
      case CURLE_SSL_CONNECT_ERROR:
      case CURLE_PEER_FAILED_VERIFICATION:
      case CURLE_SSL_CACERT_BADFILE:
      case CURLE_SSL_CERTPROBLEM:
      case CURLE_SSL_CIPHER:
      case CURLE_SSL_ISSUER_ERROR:
      case CURLE_SSL_CRL_BADFILE:
      case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
      case CURLE_SSL_INVALIDCERTSTATUS:
      case CURLE_SSL_ENGINE_NOTFOUND:
      case CURLE_SSL_ENGINE_SETFAILED:
      case CURLE_SSL_ENGINE_INITFAILED:
      case CURLE_SSL_SHUTDOWN_FAILED:
        fail(ErrorKind::tls, "TLS with IMAP server " + at + " failed (" + curl_msg +
                                 "): check the server name, the port and the SSL setting, and if the "
                                 "server uses a private certificate authority, configure its CA file.");
      case CURLE_LOGIN_DENIED: {
        if (contains(reply, "[UNAVAILABLE]"))
          fail(ErrorKind::temporary_auth,
               "IMAP server " + at + " could not check the " + how + " of " + cred.user + " right now (" + reply +
                   "): its authentication service or identity provider is "
                   "unavailable; try again later.",
               reply);
        if (reply.rfind("+ ", 0) == 0 || reply == "+") {
          // curl stops at the error challenge of XOAUTH2 instead of answering it.
          std::string said = reply.size() > 2 ? reply.substr(2) : std::string();
          if (auto dec = base64_decode(said);
              dec && !dec->empty() && std::all_of(dec->begin(), dec->end(), [](char c) { return c >= 0x20 && c < 0x7f; }))
            said = *dec;
          fail(ErrorKind::auth,
               "IMAP server " + at + " refused the " + how + " of " + cred.user + " (it answered " + said +
                   "): the token is invalid, expired, revoked or issued for another "
                   "account; reconnect the account to get a new one.",
               reply);
        }
        bool attempted = !login_lines.empty() && (contains(reply, "NO") || contains(reply, "BAD"));
        if (!attempted)
          fail(ErrorKind::auth,
               "IMAP server " + at + " offers no login method Juniper can use with a " + how + " (it offers " +
                   offered_mechanisms() + "): use the other authentication type or enable " +
                   (cred.kind == AuthKind::xoauth2 ? "XOAUTH2" : "PLAIN or LOGIN") + " on the server.",
               reply);
        fail(ErrorKind::auth,
             "IMAP server " + at + " refused the " + how + " of " + cred.user + " (" + reply +
                 (cred.kind == AuthKind::xoauth2 ? "): reconnect the account to get a new token."
                                                 : "): check the user name and password."),
             reply);
      }
      default:
        fail(ErrorKind::protocol,
             "Login to IMAP server " + at + " failed (" + curl_msg + (reply.empty() ? "" : "; last reply: " + reply) +
                 "): check that the server name and port belong to an IMAP server.",
             reply);
    }
  }

  // ------------------------------------------------------------------ raw I/O

  // Connection trouble during a command.  Thrown from inside the ResponseReader, so the
  // connection is dropped by run() once the stack has unwound, not here.
  [[noreturn]] void lost(const std::string& why) {
    std::string msg = "Lost the connection to IMAP server " + where();
    if (!doing.empty()) msg += " while " + doing;
    msg += " (" + why + (bye.empty() ? "" : "; server said: * " + bye) + "): try again later; if it persists, check the server.";
    throw Error(ErrorKind::connection, msg, bye.empty() ? std::string() : "* " + bye);
  }

  void wait_for(short events) {
    pollfd p{};
    p.fd = sock;
    p.events = events;
    const auto ms = static_cast<int>(std::min<std::chrono::milliseconds::rep>(
        std::chrono::duration_cast<std::chrono::milliseconds>(ep.timeout).count(), 1 << 30));
    for (;;) {
      int r = ::poll(&p, 1, std::max(ms, 1));
      if (r > 0) return;
      if (r == 0) lost("no answer within " + std::to_string(ep.timeout.count()) + " s");
      if (errno != EINTR) lost(std::string("poll: ") + std::strerror(errno));
    }
  }

  std::size_t recv_some(char* dst, std::size_t max) {
    for (;;) {
      std::size_t got = 0;
      CURLcode rc = curl_easy_recv(curl, dst, max, &got);
      if (rc == CURLE_OK) {
        if (got == 0) lost("the server closed the connection");
        return got;
      }
      if (rc != CURLE_AGAIN) lost(curl_easy_strerror(rc));
      wait_for(POLLIN);
    }
  }

  void send_all(std::string_view data) {
    while (!data.empty()) {
      std::size_t n = 0;
      CURLcode rc = curl_easy_send(curl, data.data(), data.size(), &n);
      if (rc == CURLE_OK) {
        data.remove_prefix(n);
      } else if (rc == CURLE_AGAIN) {
        wait_for(POLLOUT);
      } else {
        lost(curl_easy_strerror(rc));
      }
    }
  }

  // ------------------------------------------------------------------ commands

  // Sends `commands` (pipelined, at most kPipelineBytes unanswered) and reads until each
  // has its tagged reply.  Untagged responses go to `on_untagged`.  A NO/BAD to any of
  // them throws Error(protocol) once all are answered; connection trouble throws
  // Error(connection) and closes.
  void run(const std::vector<std::string>& commands, std::string what,
           const std::function<void(detail::Response&)>& on_untagged) {
    struct Doing {
      std::string& slot;
      ~Doing() { slot.clear(); }
    } doing_guard{doing};
    doing = std::move(what);
    if (!connected())
      throw Error(ErrorKind::connection, "The IMAP session with " + where() +
                                             " is not open (never opened, closed, or closed by an earlier error): "
                                             "open it again.");
    struct Pending {
      std::string tag;
      std::size_t bytes;
    };
    std::deque<Pending> pending;
    std::size_t next = 0, in_flight = 0;
    std::string failure;
    try {
      while (next < commands.size() || !pending.empty()) {
        while (next < commands.size() && (pending.empty() || in_flight + commands[next].size() <= kPipelineBytes)) {
          if (observer) observer(commands[next]);
          // Built with appends: `"J" + to_string()` trips GCC 12's -Wrestrict at -O2.
          std::string tag(1, 'J');
          tag += std::to_string(++tag_no);
          std::string line;
          line.reserve(tag.size() + commands[next].size() + 3);
          line.append(tag).append(1, ' ').append(commands[next]).append("\r\n");
          send_all(line);
          in_flight += line.size();
          pending.push_back({std::move(tag), line.size()});
          ++next;
        }
        detail::Response r = reader->next();
        switch (r.kind) {
          case detail::Response::Kind::tagged: {
            auto it = std::find_if(pending.begin(), pending.end(), [&](const Pending& p) { return p.tag == r.tag; });
            if (it == pending.end())
              throw detail::ProtocolError("reply with unknown tag: " + r.tag + " " + r.text.substr(0, 200));
            in_flight -= it->bytes;
            pending.erase(it);
            if (r.status() != "OK" && failure.empty()) failure = r.text;
            break;
          }
          case detail::Response::Kind::continuation:
            throw detail::ProtocolError("unexpected continuation request: + " + r.text.substr(0, 200));
          case detail::Response::Kind::untagged:
            if (r.status() == "BYE") bye = r.text;
            on_untagged(r);
            break;
        }
      }
    } catch (const Error&) {
      drop();  // connection lost: closed
      throw;
    } catch (const detail::ProtocolError& e) {
      drop();  // out of step with the server: closed
      throw Error(ErrorKind::protocol, "IMAP server " + where() + " sent data Juniper cannot read" +
                                           (doing.empty() ? std::string() : " while " + doing) + " (" + e.what() +
                                           "); the connection was closed.");
    } catch (...) {
      drop();  // replies still pending: the connection cannot be used any more
      throw;
    }
    if (!failure.empty())
      throw Error(ErrorKind::protocol,
                  "IMAP server " + where() + " refused a command" + (doing.empty() ? std::string() : " while " + doing) + " (" +
                      failure.substr(0, 500) + ").",
                  failure.substr(0, 2000));
  }

  void logout() noexcept {
    if (!connected()) return;
    try {
      auto saved = ep.timeout;
      ep.timeout = std::min<std::chrono::seconds>(ep.timeout, std::chrono::seconds(5));
      try {
        run({"LOGOUT"}, "logging out", [](detail::Response&) {});
      } catch (...) {
      }
      ep.timeout = saved;
    } catch (...) {
    }
    drop();
  }
};

Session::Session(Endpoint endpoint, Credentials credentials)
    : impl_(std::make_unique<Impl>(std::move(endpoint), std::move(credentials))) {}

Session::~Session() {
  if (impl_) impl_->logout();
}

Session::Session(Session&&) noexcept = default;

Session& Session::operator=(Session&& other) noexcept {
  if (this != &other) {
    if (impl_) impl_->logout();
    impl_ = std::move(other.impl_);
  }
  return *this;
}

void Session::open(std::string_view mailbox) {
  auto& d = *impl_;
  d.logout();
  d.uidvalidity = 0;
  d.mailbox = std::string(mailbox);
  std::string arg;
  try {
    arg = detail::mailbox_argument(mailbox);
  } catch (const std::invalid_argument& e) {
    throw Error(ErrorKind::protocol, "Invalid IMAP mailbox name \"" + d.mailbox + "\": " + e.what() + ".");
  }
  d.connect();
  std::uint32_t uidvalidity = 0;
  try {
    d.run({"SELECT " + arg}, "selecting mailbox \"" + d.mailbox + "\"", [&](detail::Response& r) {
      if (auto v = detail::parse_uidvalidity(r)) uidvalidity = *v;
    });
  } catch (const Error& e) {
    d.logout();
    if (e.kind() != ErrorKind::protocol || e.server_reply().empty()) throw;
    throw Error(ErrorKind::protocol,
                "IMAP server " + d.where() + " cannot open mailbox \"" + d.mailbox + "\" of " + d.cred.user + " (" +
                    e.server_reply().substr(0, 500) + "): check the mailbox name.",
                e.server_reply());
  }
  d.uidvalidity = uidvalidity;
}

bool Session::is_open() const noexcept { return impl_ && impl_->connected(); }

std::uint32_t Session::uidvalidity() const { return impl_->uidvalidity; }

std::vector<std::uint32_t> Session::search_unseen() {
  std::vector<std::uint32_t> uids;
  impl_->run({"UID SEARCH UNSEEN"}, "searching for unread messages", [&](detail::Response& r) {
    if (auto v = detail::parse_search(r)) uids.insert(uids.end(), v->begin(), v->end());
  });
  std::sort(uids.begin(), uids.end());
  uids.erase(std::unique(uids.begin(), uids.end()), uids.end());
  return uids;
}

std::string Session::fetch_peek(std::uint32_t uid) {
  auto got = fetch_peek_many({uid});
  if (got.empty())
    throw Error(ErrorKind::protocol, "IMAP server " + impl_->where() + " has no message with UID " + std::to_string(uid) +
                                         " in mailbox \"" + impl_->mailbox + "\" (deleted or moved meanwhile?).");
  return got.front().second.read();
}

namespace {

// UID STORE commands that mark `uids` read, without the server echoing the flags.
std::vector<std::string> store_seen_commands(const std::vector<std::uint32_t>& uids) {
  std::vector<std::string> commands;
  if (uids.empty()) return commands;
  try {
    for (auto& s : detail::uid_sets(uids)) commands.push_back("UID STORE " + s + " +FLAGS.SILENT (\\Seen)");
  } catch (const std::invalid_argument& e) {
    throw Error(ErrorKind::protocol, std::string("Invalid IMAP store request: ") + e.what() + ".");
  }
  return commands;
}

}  // namespace

std::vector<std::pair<std::uint32_t, Spooled>> Session::fetch_peek_many(const std::vector<std::uint32_t>& uids,
                                                                        const std::vector<std::uint32_t>& seen_first) {
  std::vector<std::pair<std::uint32_t, Spooled>> out;
  if (uids.empty()) {
    mark_seen(seen_first);
    return out;
  }
  std::vector<std::string> sets;
  try {
    sets = detail::uid_sets(uids);
  } catch (const std::invalid_argument& e) {
    throw Error(ErrorKind::protocol, std::string("Invalid IMAP fetch request: ") + e.what() + ".");
  }
  std::vector<std::uint32_t> wanted(uids);
  std::sort(wanted.begin(), wanted.end());
  std::vector<std::string> commands = store_seen_commands(seen_first);  // one round trip for both
  commands.reserve(commands.size() + sets.size());
  for (auto& s : sets) commands.push_back("UID FETCH " + s + " BODY.PEEK[]");
  out.reserve(wanted.size());
  impl_->run(commands, "fetching messages", [&](detail::Response& r) {
    auto f = detail::parse_fetch(r);
    if (!f || !f->uid || !f->body) return;
    if (!std::binary_search(wanted.begin(), wanted.end(), *f->uid)) return;
    out.emplace_back(*f->uid, std::move(*f->body));
  });
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  out.erase(std::unique(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first == b.first; }), out.end());
  return out;
}

std::vector<std::pair<std::uint32_t, std::uint32_t>> Session::sizes(const std::vector<std::uint32_t>& uids) {
  std::vector<std::pair<std::uint32_t, std::uint32_t>> out;
  if (uids.empty()) return out;
  std::vector<std::string> commands;
  try {
    for (auto& s : detail::uid_sets(uids)) commands.push_back("UID FETCH " + s + " (RFC822.SIZE)");
  } catch (const std::invalid_argument& e) {
    throw Error(ErrorKind::protocol, std::string("Invalid IMAP fetch request: ") + e.what() + ".");
  }
  impl_->run(commands, "reading message sizes", [&](detail::Response& r) {
    auto f = detail::parse_fetch(r);
    if (f && f->uid && f->size) out.emplace_back(*f->uid, *f->size);
  });
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first == b.first; }), out.end());
  return out;
}

void Session::mark_seen(const std::vector<std::uint32_t>& uids) {
  if (uids.empty()) return;
  impl_->run(store_seen_commands(uids), "marking messages as read", [](detail::Response&) {});
}

void Session::close() {
  if (impl_) impl_->logout();
}

void Session::set_command_observer(std::function<void(std::string_view)> observer) { impl_->observer = std::move(observer); }

std::size_t Session::connections_opened() const noexcept { return impl_ ? impl_->connections : 0; }

}  // namespace juniper::mail::imap
