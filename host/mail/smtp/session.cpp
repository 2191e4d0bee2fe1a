#include "mail/smtp/session.hpp"
#include "mail/smtp/wire.hpp"

#include "core/ca_bundle.hpp"
#include "core/crypto.hpp"

#include <curl/curl.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>
#include <utility>

namespace juniper::mail::smtp {

namespace {

constexpr std::size_t kMaxReplyInMessage = 300;
constexpr std::size_t kPipelineWindow = 64;  // commands written ahead of their replies

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// ---------------------------------------------------------------- small text helpers

char ascii_upper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }

bool icontains(std::string_view hay, std::string_view needle) {
  if (needle.size() > hay.size()) return false;
  for (std::size_t i = 0; i + needle.size() <= hay.size(); ++i) {
    bool eq = true;
    for (std::size_t j = 0; j < needle.size() && eq; ++j) eq = ascii_upper(hay[i + j]) == ascii_upper(needle[j]);
    if (eq) return true;
  }
  return false;
}

// Control characters (a misbehaving server, or an address with CR/LF) become spaces.
std::string printable(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    out.push_back((u < 0x20 || u == 0x7f) ? ' ' : c);
  }
  return out;
}

std::string shorten(std::string s, std::size_t max) {
  if (s.size() <= max) return s;
  s.resize(max);
  s += "...";
  return s;
}

std::string trim_period(std::string s) {
  while (!s.empty() && (s.back() == '.' || s.back() == ' ')) s.pop_back();
  return s;
}

// The server's SASL error challenge is base64 (OpenSSL decodes it, via the host's crypto).
std::optional<std::string> base64_decode(std::string_view in) {
  try {
    return crypto::base64_decode(in);
  } catch (const std::invalid_argument&) {
    return std::nullopt;
  }
}

// An address handed to MAIL FROM / RCPT TO: no control characters (command injection), no
// angle brackets (libcurl adds them).
bool valid_address(std::string_view a, bool allow_empty) {
  if (a.empty()) return allow_empty;
  if (a.size() > 512) return false;
  return std::none_of(a.begin(), a.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f || c == '<' || c == '>';
  });
}

// ---------------------------------------------------------------- what the server said

enum class Phase { greeting, ehlo, starttls, auth, mail, rcpt, data, message, other };

std::string_view phase_words(Phase p) {
  switch (p) {
    case Phase::greeting:
      return "the server greeting";
    case Phase::ehlo:
      return "EHLO";
    case Phase::starttls:
      return "STARTTLS";
    case Phase::auth:
      return "authentication";
    case Phase::mail:
      return "MAIL FROM";
    case Phase::rcpt:
      return "RCPT TO";
    case Phase::data:
      return "DATA";
    case Phase::message:
      return "the message transfer";
    case Phase::other:
      break;
  }
  return "the SMTP session";
}

struct Reply {
  int code = 0;
  std::string text;  // all lines, CR/LF stripped, joined by '\n'
};

// "535 5.7.8 Error: ..." on one line: continuation lines lose their "NNN-" prefix.
std::string one_line(const Reply& r) {
  std::string out;
  std::size_t start = 0;
  bool first = true;
  while (start <= r.text.size()) {
    std::size_t end = r.text.find('\n', start);
    if (end == std::string::npos) end = r.text.size();
    std::string_view line(r.text.data() + start, end - start);
    if (!first && line.size() >= 4 && (line[3] == '-' || line[3] == ' ')) line.remove_prefix(4);
    if (!line.empty()) {
      if (!out.empty()) out += ' ';
      out += line;
    }
    first = false;
    start = end + 1;
  }
  return shorten(trim_period(out), kMaxReplyInMessage);
}

// Fed with libcurl's debug stream.  Keeps the server's replies (HEADER_IN) and, from the
// client's lines (HEADER_OUT), only the command verb to know the phase: the rest of a client
// line (an AUTH initial response, a SASL continuation) is looked at and never stored.
class Transcript {
 public:
  void reset() { *this = Transcript(); }

  void on_out(const char* d, std::size_t n) {
    const bool line_start = out_line_start_;
    out_line_start_ = n > 0 && d[n - 1] == '\n';
    if (!line_start) return;
    char verb[10];
    std::size_t i = 0;
    while (i < n && i < sizeof verb && d[i] != ' ' && d[i] != '\r' && d[i] != '\n') {
      verb[i] = ascii_upper(d[i]);
      ++i;
    }
    const std::string_view v(verb, i);
    if (v == "MAIL") {
      phase = Phase::mail;
    } else if (v == "RCPT") {
      phase = Phase::rcpt;
    } else if (v == "DATA") {
      phase = Phase::data;
    } else if (v == "AUTH") {
      phase = Phase::auth;
      auth_attempted = true;
      // The mechanism name only; never what follows it.
      std::size_t s = i + 1, e = s;
      while (e < n && e - s < 12 && d[e] != ' ' && d[e] != '\r' && d[e] != '\n') ++e;
      std::string mech;
      for (std::size_t k = s; k < e && k < n; ++k) mech.push_back(ascii_upper(d[k]));
      for (const char* known : {"PLAIN", "LOGIN", "XOAUTH2", "OAUTHBEARER", "CRAM-MD5"})
        if (mech == known) auth_mechanism = mech;
    } else if (v == "EHLO" || v == "HELO") {
      phase = Phase::ehlo;
      saw_ehlo = true;
      offered_starttls = false;
      offered_pipelining = false;
      offered_size = false;
      offered_auth.reset();
    } else if (v == "STARTTLS") {
      phase = Phase::starttls;
    } else if (v == "QUIT") {
      // libcurl QUITs after a failed transfer: the 221 must not hide the reason.
      quitting_ = true;
    } else if (phase != Phase::auth) {
      phase = Phase::other;
    }
    // else: a SASL continuation line while authenticating (contains credentials): ignored.
  }

  void on_in(const char* d, std::size_t n) {
    partial_.append(d, n);
    std::size_t start = 0;
    for (;;) {
      std::size_t nl = partial_.find('\n', start);
      if (nl == std::string::npos) break;
      std::string_view line(partial_.data() + start, nl - start);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      on_line(line);
      start = nl + 1;
    }
    partial_.erase(0, start);
  }

  Phase phase = Phase::greeting;
  Reply last;  // last complete reply
  Phase last_phase = Phase::greeting;
  std::size_t replies = 0;  // complete replies seen
  std::vector<Reply> rcpt;  // replies to RCPT TO, in order
  bool auth_attempted = false;
  std::string auth_mechanism;               // PLAIN, LOGIN, XOAUTH2, OAUTHBEARER
  std::optional<std::string> offered_auth;  // EHLO "AUTH ..." capability, if seen
  bool offered_starttls = false;
  bool offered_pipelining = false;  // RFC 2920
  bool offered_size = false;        // RFC 1870: MAIL FROM may say the size
  bool saw_ehlo = false;            // a new connection was set up in this transfer

 private:
  void on_line(std::string_view raw) {
    std::string line = printable(raw);
    if (phase == Phase::ehlo && line.size() > 4 && line.compare(0, 3, "250") == 0) {
      std::string_view cap(line);
      cap.remove_prefix(4);
      if (icontains(cap.substr(0, 8), "STARTTLS") && cap.size() == 8) offered_starttls = true;
      if (icontains(cap.substr(0, 10), "PIPELINING") && cap.size() == 10) offered_pipelining = true;
      if (icontains(cap.substr(0, 4), "SIZE") && (cap.size() == 4 || cap[4] == ' ')) offered_size = true;
      if (cap.size() >= 4 && icontains(cap.substr(0, 5), "AUTH") && (cap.size() == 4 || cap[4] == ' ' || cap[4] == '='))
        offered_auth = std::string(cap.size() > 5 ? cap.substr(5) : std::string_view());
    }
    if (!lines_.empty()) lines_ += '\n';
    lines_ += line;
    const bool has_code = line.size() >= 3 && std::isdigit(static_cast<unsigned char>(line[0])) &&
                          std::isdigit(static_cast<unsigned char>(line[1])) && std::isdigit(static_cast<unsigned char>(line[2]));
    const bool continued = has_code && line.size() > 3 && line[3] == '-';
    if (continued) return;
    Reply r;
    r.code = has_code ? std::stoi(line.substr(0, 3)) : 0;
    r.text = std::move(lines_);
    lines_.clear();
    on_reply(std::move(r));
  }

  void on_reply(Reply r) {
    if (quitting_) return;
    ++replies;
    last_phase = phase;
    if (phase == Phase::rcpt) rcpt.push_back(r);
    if (phase == Phase::data && r.code == 354) phase = Phase::message;
    last = std::move(r);
  }

  bool out_line_start_ = true;
  bool quitting_ = false;
  std::string partial_;
  std::string lines_;
};

int debug_callback(CURL*, curl_infotype type, char* data, std::size_t size, void* userp) {
  auto* t = static_cast<Transcript*>(userp);
  if (type == CURLINFO_HEADER_IN)
    t->on_in(data, size);
  else if (type == CURLINFO_HEADER_OUT)
    t->on_out(data, size);
  // CURLINFO_TEXT / DATA_* / SSL_DATA_* are dropped: nothing else is kept.
  return 0;
}

bool tls_error(CURLcode rc) {
  switch (rc) {
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_USE_SSL_FAILED:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CLIENTCERT:
      return true;
    default:
      return false;
  }
}

// A handshake the peer cut (EOF or reset) rather than one it refused (alert, bad certificate).
bool handshake_cut(CURL* h, std::string_view detail) {
  long os_errno = 0;
  if (h) curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &os_errno);
  return os_errno == ECONNRESET || os_errno == EPIPE || icontains(detail, "unexpected eof") ||
         icontains(detail, "SSL_ERROR_SYSCALL") || icontains(detail, "connection reset");
}

bool connection_error(CURLcode rc) {
  switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_PARTIAL_FILE:
      return true;
    default:
      return false;
  }
}

Result make(Outcome o, std::string message) {
  Result r;
  r.outcome = o;
  r.message = std::move(message);
  return r;
}

}  // namespace

bool Result::transient() const { return outcome == Outcome::temporary || outcome == Outcome::connection_failed; }

std::string_view to_string(Outcome outcome) noexcept {
  switch (outcome) {
    case Outcome::sent:
      return "sent";
    case Outcome::temporary:
      return "temporary";
    case Outcome::permanent:
      return "permanent";
    case Outcome::auth_failed:
      return "auth_failed";
    case Outcome::connection_failed:
      return "connection_failed";
    case Outcome::tls_failed:
      return "tls_failed";
  }
  return "unknown";
}

// ==================================================================== Session::Impl

struct Session::Impl {
  Impl(Endpoint e, Credentials c) : ep(std::move(e)), cred(std::move(c)) {
    global_init();
    hp = ep.host + ":" + std::to_string(ep.port);
    if (ep.host.find(':') != std::string::npos && ep.host.front() != '[') hp = "[" + ep.host + "]:" + std::to_string(ep.port);
  }
  ~Impl() { close(); }

  Endpoint ep;
  Credentials cred;
  std::string hp;            // host:port for messages
  CURL* easy = nullptr;      // the mail connection (CONNECT_ONLY), kept between mails
  std::optional<Wire> wire;  // over `easy`
  bool pipelining = false;   // what the server offered on this connection
  bool size_ext = false;
  std::size_t connections = 0;
  Transcript transcript;
  char errbuf[CURL_ERROR_SIZE] = {};

  bool prepared = false;
  std::optional<Result> setup_error;  // invalid host / unreadable CA file: every call fails
  std::string url;
  tls::Trust trust;  // the system's CAs, plus ca_file when set

  // QUIT (a short wait for its answer), then close.
  void close() {
    if (easy && wire) {
      wire->set_timeout(std::min(ep.timeout, std::chrono::seconds(5)));
      std::string line;
      if (wire->write("QUIT\r\n") == CURLE_OK) (void)wire->read_line(line);
    }
    drop();
  }

  // Closes without a word: after an I/O error, or when the server already hung up.
  void drop() {
    wire.reset();
    if (easy) curl_easy_cleanup(easy);  // CONNECT_ONLY: libcurl sends nothing more
    easy = nullptr;
  }

  // Once per session: URL and trust store.
  void prepare() {
    if (prepared) return;
    prepared = true;
    if (ep.host.empty()) {
      setup_error = make(Outcome::permanent, "No SMTP server address is set. Enter the server's host name.");
      return;
    }
    if (ep.port < 1 || ep.port > 65535) {
      setup_error = make(Outcome::permanent, "The SMTP port " + std::to_string(ep.port) + " of " + ep.host +
                                                 " is not valid. Enter a port between 1 and 65535 (usually 587 or 465).");
      return;
    }
    CURLU* u = curl_url();
    std::string host = ep.host;
    if (host.find(':') != std::string::npos && host.front() != '[') host = "[" + host + "]";
    const std::string port = std::to_string(ep.port);
    char* full = nullptr;
    bool ok = u && curl_url_set(u, CURLUPART_SCHEME, ep.security == Security::ssl ? "smtps" : "smtp", 0) == CURLUE_OK &&
              curl_url_set(u, CURLUPART_HOST, host.c_str(), 0) == CURLUE_OK &&
              curl_url_set(u, CURLUPART_PORT, port.c_str(), 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_URL, &full, 0) == CURLUE_OK;
    if (ok) url = full;
    curl_free(full);
    curl_url_cleanup(u);
    if (!ok) {
      setup_error = make(Outcome::permanent, "The SMTP server address '" + printable(ep.host) +
                                                 "' is not a valid host name. Correct the server address.");
      return;
    }
    std::string err;
    // The extra CA is trusted in addition to the system's, not instead of it.
    auto t = tls::Trust::with(ep.ca_file, err);
    if (!t) {
      setup_error = make(Outcome::tls_failed, "Cannot read the CA certificate file " + ep.ca_file + " for " + hp + ": " + err +
                                                  ". Check the CA file setting of this server.");
      return;
    }
    trust = std::move(*t);
  }

  // Options shared by the mail handle and the connection-test handle.
  void configure(CURL* h, Transcript* t, char* eb) const {
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    const long secs = std::max<long>(1, static_cast<long>(ep.timeout.count()));
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, secs);
    curl_easy_setopt(h, CURLOPT_SERVER_RESPONSE_TIMEOUT, secs);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, secs);
    curl_easy_setopt(h, CURLOPT_USE_SSL,
                     ep.security == Security::none ? static_cast<long>(CURLUSESSL_NONE) : static_cast<long>(CURLUSESSL_ALL));
    // Certificates are always verified.
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    trust.apply(h);
    curl_easy_setopt(h, CURLOPT_SASL_IR, 1L);
    switch (cred.kind) {
      case AuthKind::none:
        break;
      case AuthKind::password:
        curl_easy_setopt(h, CURLOPT_USERNAME, cred.user.c_str());
        curl_easy_setopt(h, CURLOPT_PASSWORD, cred.secret.c_str());
        curl_easy_setopt(h, CURLOPT_LOGIN_OPTIONS, "AUTH=PLAIN;AUTH=LOGIN");
        break;
      case AuthKind::xoauth2:
        curl_easy_setopt(h, CURLOPT_USERNAME, cred.user.c_str());
        curl_easy_setopt(h, CURLOPT_XOAUTH2_BEARER, cred.secret.c_str());
        curl_easy_setopt(h, CURLOPT_LOGIN_OPTIONS, "AUTH=XOAUTH2");
        break;
    }
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, eb);
    // Verbose only to feed the transcript; the callback keeps server replies alone.
    curl_easy_setopt(h, CURLOPT_DEBUGFUNCTION, &debug_callback);
    curl_easy_setopt(h, CURLOPT_DEBUGDATA, t);
    curl_easy_setopt(h, CURLOPT_VERBOSE, 1L);
  }

  std::optional<Result> open();
  Result perform_send(const Outgoing& mail, bool fresh, bool& retry_on_new_connection);
  Result transaction(const Outgoing& mail, bool reused, bool& retry_on_new_connection);
  Result failed(CURLcode rc, const Outgoing& mail, bool reused, bool data_started, std::size_t unread, bool& retry);
  Result classify(CURLcode rc, CURL* h, const Transcript& t, const char* eb, std::string_view from,
                  const std::vector<std::string>& recipients, std::size_t size) const;
  Result classify_reply(const Transcript& t, std::string_view from, const std::vector<std::string>& recipients,
                        std::size_t size) const;
  std::string auth_rejected(const Transcript& t) const;
  Result unauthenticated(const Transcript& t) const;
};

// Credentials are configured but the server offered no AUTH on this connection.
Result Session::Impl::unauthenticated(const Transcript& t) const {
  if (ep.security == Security::none && t.offered_starttls)
    return make(Outcome::tls_failed, hp + " offers authentication only after STARTTLS. Set the security setting of "
                                          "this server to STARTTLS.");
  return make(Outcome::auth_failed, auth_rejected(t));
}

// ---------------------------------------------------------------- classification

std::string Session::Impl::auth_rejected(const Transcript& t) const {
  const std::string who = cred.user.empty() ? std::string() : " of " + printable(cred.user);
  if (!t.auth_attempted) {
    // libcurl found no mechanism it may use among those the server offers.
    std::string offered = t.offered_auth ? "it offers " + (t.offered_auth->empty() ? "none" : *t.offered_auth)
                                         : "it offers no AUTH on this connection";
    return hp + " does not offer " + std::string(cred.kind == AuthKind::xoauth2 ? "XOAUTH2 (OAuth)" : "PLAIN or LOGIN") +
           " authentication (" + offered + "). Check the authentication type and the security setting of this server.";
  }
  std::string said;
  if (t.replies > 0 && t.last_phase == Phase::auth) {
    said = one_line(t.last);
    // XOAUTH2/OAUTHBEARER error challenge: base64 JSON such as {"status":"401",...}.
    if (t.last.code == 334 && t.last.text.size() > 4) {
      if (auto json = base64_decode(std::string_view(t.last.text).substr(4)); json && !json->empty() && json->front() == '{')
        said = "334 " + shorten(printable(*json), kMaxReplyInMessage);
    }
  }
  const std::string quoted = said.empty() ? std::string() : " (" + said + ")";
  if (cred.kind == AuthKind::xoauth2)
    return hp + " rejected the OAuth access token" + who + quoted +
           ". Reconnect the account to get a new token, and check that SMTP AUTH is allowed for this mailbox.";
  return hp + " rejected the login" + who + quoted + ". Check the user name and password.";
}

// Long: one branch per class of SMTP reply, each with the sentence the administrator reads.
Result Session::Impl::classify_reply(const Transcript& t, std::string_view from, const std::vector<std::string>& recipients,
                                     std::size_t size) const {
  const Reply& r = t.last;
  const std::string said = one_line(r);
  const bool temp = r.code / 100 == 4;
  Result out;
  out.code = r.code;
  out.reply = r.text;
  auto set = [&](Outcome o, std::string m) {
    out.outcome = o;
    out.message = std::move(m);
    return out;
  };
  if ((r.code == 530 || r.code == 538) && icontains(r.text, "STARTTLS"))
    return set(Outcome::tls_failed, hp + " requires STARTTLS before login (" + said +
                                        "). Set the security setting of this server to STARTTLS (or SSL/TLS for port 465).");
  if (t.last_phase == Phase::auth) {
    if (temp)
      return set(Outcome::temporary, hp + " could not check the credentials right now (" + said +
                                         "). The mail will be retried; if this persists, check the mail server.");
    return set(Outcome::auth_failed, auth_rejected(t));
  }
  if (r.code == 530 || r.code == 534 || r.code == 535)
    return set(Outcome::auth_failed,
               hp + " requires authentication (" + said + ")" +
                   (cred.kind == AuthKind::none ? ". Set a user name and password, or connect an OAuth account, for this server."
                                                : ". Check the authentication type, the credentials and the security setting."));
  if (r.code == 421)
    return set(Outcome::temporary, hp + " closed the session during " + std::string(phase_words(t.last_phase)) + " (" + said +
                                       "). The mail will be retried.");
  const bool size_refusal = r.code == 552 || icontains(r.text, "5.3.4") || icontains(r.text, "size exceeds");
  switch (t.last_phase) {
    case Phase::greeting:
    case Phase::ehlo:
      if (temp) return set(Outcome::temporary, hp + " is not accepting mail right now (" + said + "). The mail will be retried.");
      return set(Outcome::permanent, hp + " refused the SMTP session (" + said +
                                         "). Check the server address and port, and that this host may use the server.");
    case Phase::starttls:
      if (temp) return set(Outcome::temporary, hp + " cannot start TLS right now (" + said + "). The mail will be retried.");
      return set(Outcome::tls_failed, hp + " refused STARTTLS (" + said + "). Check the security setting of this server.");
    case Phase::mail: {
      const std::string who = from.empty() ? std::string("<>") : printable(from);
      if (temp)
        return set(Outcome::temporary,
                   hp + " temporarily refused the sender " + who + " (" + said + "). The mail will be retried.");
      if (size_refusal)
        return set(Outcome::permanent, hp + " refused the message because of its size (" + std::to_string(size) + " bytes; " +
                                           said + "). Reduce the attachments or raise the server's limit.");
      std::string hint = cred.kind != AuthKind::none && !cred.user.empty()
                             ? ". Check that " + printable(cred.user) + " may send as this address."
                             : ". Check the sender address.";
      return set(Outcome::permanent, hp + " refused the sender address " + who + " (" + said + ")" + hint);
    }
    case Phase::rcpt: {
      std::string list;
      bool any_temp = false;
      for (std::size_t i = 0; i < t.rcpt.size(); ++i) {
        if (t.rcpt[i].code < 400) continue;
        any_temp = any_temp || t.rcpt[i].code / 100 == 4;
        if (i < recipients.size()) out.refused_recipients.push_back(recipients[i]);
        if (!list.empty()) list += "; ";
        list += (i < recipients.size() ? printable(recipients[i]) : std::string("?")) + " (" + one_line(t.rcpt[i]) + ")";
      }
      if (list.empty()) list = said;
      if (any_temp)
        return set(Outcome::temporary, hp + " temporarily refused the recipients: " + shorten(list, 2 * kMaxReplyInMessage) +
                                           ". The mail will be retried.");
      return set(Outcome::permanent,
                 hp + " refused every recipient: " + shorten(list, 2 * kMaxReplyInMessage) + ". Check the recipient addresses.");
    }
    case Phase::data:
      if (temp)
        return set(Outcome::temporary, hp + " temporarily refused the DATA command (" + said + "). The mail will be retried.");
      return set(Outcome::permanent, hp + " refused the DATA command (" + said + "). Check the message and the server's policy.");
    case Phase::message:
      if (temp) return set(Outcome::temporary, hp + " deferred the message (" + said + "). The mail will be retried.");
      if (size_refusal)
        return set(Outcome::permanent, hp + " refused the message because of its size (" + std::to_string(size) + " bytes; " +
                                           said + "). Reduce the attachments or raise the server's limit.");
      return set(Outcome::permanent,
                 hp + " rejected the message (" + said + "). Check the message content and the server's policy.");
    case Phase::auth:
    case Phase::other:
      break;
  }
  if (temp) return set(Outcome::temporary, hp + " answered " + said + ". The mail will be retried.");
  return set(Outcome::permanent, hp + " answered " + said + ". Check the server settings.");
}

// Long: one branch per libcurl outcome, each with the sentence the administrator reads.
Result Session::Impl::classify(CURLcode rc, CURL* h, const Transcript& t, const char* eb, std::string_view from,
                               const std::vector<std::string>& recipients, std::size_t size) const {
  const std::string detail = trim_period(printable(eb && *eb ? std::string(eb) : std::string(curl_easy_strerror(rc))));
  // A refusal counts only if it answered the last command (RCPT refusals that libcurl got
  // past with ALLOWFAILS are not the reason of a later failure).
  const bool refusal = t.replies > 0 && t.last.code >= 400 && t.phase == t.last_phase;

  Result out;
  if (rc == CURLE_LOGIN_DENIED || rc == CURLE_AUTH_ERROR) {
    if (refusal && t.last_phase == Phase::auth) return classify_reply(t, from, recipients, size);
    out = make(Outcome::auth_failed, auth_rejected(t));
  } else if (rc == CURLE_SSL_CONNECT_ERROR && handshake_cut(h, detail)) {
    // The server went away in the handshake (a restart, a stop): nothing to fix in the settings.
    out = make(Outcome::connection_failed, "The connection to " + hp + " was closed during the TLS handshake (" + detail +
                                               "). The mail will be retried; if this persists, check the server.");
  } else if (tls_error(rc)) {
    if (refusal && t.last_phase == Phase::starttls) return classify_reply(t, from, recipients, size);
    switch (rc) {
      case CURLE_PEER_FAILED_VERIFICATION:
        out = make(Outcome::tls_failed,
                   "The TLS certificate of " + hp + " is not trusted (" + detail + "). " +
                       (ep.ca_file.empty() ? "If the server uses a private CA, set its CA certificate file; otherwise "
                                           : "Check the CA certificate file " + ep.ca_file + " and ") +
                       "check that the server name matches the certificate.");
        break;
      case CURLE_USE_SSL_FAILED:
        out = make(Outcome::tls_failed, hp + " does not offer STARTTLS (" + detail +
                                            "). Check the port and the security setting (port 465 usually needs SSL/TLS).");
        break;
      case CURLE_SSL_CACERT_BADFILE:
      case CURLE_SSL_CRL_BADFILE:
        out = make(Outcome::tls_failed, "The CA certificates for " + hp + " could not be loaded (" + detail +
                                            "). Check the CA certificate file setting of this server.");
        break;
      default:
        out = make(Outcome::tls_failed,
                   "The TLS handshake with " + hp + " failed (" + detail +
                       "). Check the security setting: SSL/TLS for implicit-TLS ports (usually 465), STARTTLS for "
                       "submission ports (usually 587).");
        break;
    }
  } else if (refusal && (rc == CURLE_SEND_ERROR || rc == CURLE_WEIRD_SERVER_REPLY || rc == CURLE_OK || rc == CURLE_RECV_ERROR)) {
    // libcurl reports a refused MAIL/RCPT/DATA (and a failed end of data) as a send error.
    return classify_reply(t, from, recipients, size);
  } else if (rc == CURLE_COULDNT_RESOLVE_HOST) {
    out = make(Outcome::connection_failed, "Cannot resolve the SMTP server name " + printable(ep.host) + " (" + detail +
                                               "). Check the server address and this host's DNS settings.");
  } else if (rc == CURLE_COULDNT_CONNECT) {
    long os_errno = 0;
    if (h) curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &os_errno);
    std::string why = os_errno == ECONNREFUSED   ? "connection refused"
                      : os_errno == ETIMEDOUT    ? "no answer"
                      : os_errno == EHOSTUNREACH ? "host unreachable"
                      : os_errno == ENETUNREACH  ? "network unreachable"
                      : os_errno != 0            ? std::string(std::strerror(static_cast<int>(os_errno)))
                                                 : detail;
    if (!why.empty()) why[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(why[0])));
    out = make(Outcome::connection_failed,
               "Cannot connect to " + hp + ": " + why + ". Check the server address and port, and that the server is running.");
  } else if (rc == CURLE_OPERATION_TIMEDOUT) {
    const long secs = static_cast<long>(ep.timeout.count());
    curl_off_t connect_us = 0;
    if (h) curl_easy_getinfo(h, CURLINFO_CONNECT_TIME_T, &connect_us);
    if (t.replies == 0 && t.phase == Phase::greeting && connect_us == 0)
      out = make(Outcome::connection_failed, "Cannot connect to " + hp + ": no answer within " + std::to_string(secs) +
                                                 " s. Check the server address and port, and any firewall in between.");
    else if (t.replies == 0 && t.phase == Phase::greeting)
      out = make(Outcome::connection_failed, "Connected to " + hp + " but no SMTP greeting came within " + std::to_string(secs) +
                                                 " s. Check the port and the security setting (port 465 usually needs SSL/TLS).");
    else
      out = make(Outcome::connection_failed, hp + " did not answer within " + std::to_string(secs) + " s during " +
                                                 std::string(phase_words(t.phase)) + ". The mail will be retried.");
  } else if (connection_error(rc)) {
    out = make(Outcome::connection_failed, "The connection to " + hp + " was closed unexpectedly during " +
                                               std::string(phase_words(t.phase)) + " (" + detail +
                                               "). The mail will be retried; if this persists, check the server.");
  } else if (rc == CURLE_URL_MALFORMAT || rc == CURLE_UNSUPPORTED_PROTOCOL) {
    out =
        make(Outcome::permanent, "The SMTP server address " + hp + " is not valid (" + detail + "). Correct the server address.");
  } else if (rc == CURLE_OUT_OF_MEMORY) {
    out = make(Outcome::temporary, "Out of memory while sending through " + hp + ". The mail will be retried.");
  } else {
    out = make(Outcome::temporary, "Unexpected error while talking to " + hp + " during " + std::string(phase_words(t.phase)) +
                                       " (" + detail + "). The mail will be retried.");
  }
  if (t.replies > 0) {
    out.code = t.last.code;
    out.reply = t.last.text;
  }
  return out;
}

// ---------------------------------------------------------------- sending

// libcurl does SMTP's connect phase (greeting, EHLO, STARTTLS, EHLO, AUTH: CONNECT_ONLY stops
// after it); the mail transactions are ours, on the Wire.
std::optional<Result> Session::Impl::open() {
  transcript.reset();
  errbuf[0] = '\0';
  CURL* h = curl_easy_init();
  if (!h) return make(Outcome::temporary, "Cannot create a libcurl handle (out of memory). The mail will be retried.");
  configure(h, &transcript, errbuf);
  curl_easy_setopt(h, CURLOPT_CONNECT_ONLY, 1L);
  const CURLcode rc = curl_easy_perform(h);
  long opened = 0;
  curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &opened);
  connections += static_cast<std::size_t>(std::max(0L, opened));
  std::optional<Result> failure;
  if (rc != CURLE_OK)
    failure = classify(rc, h, transcript, errbuf, {}, {}, 0);
  else if (cred.kind != AuthKind::none && !transcript.auth_attempted)
    failure = unauthenticated(transcript);  // libcurl skips AUTH when the server offers none
  if (failure) {
    curl_easy_cleanup(h);
    return failure;
  }
  easy = h;
  wire.emplace(h, ep.timeout);
  pipelining = transcript.offered_pipelining;
  size_ext = transcript.offered_size;
  return std::nullopt;
}

Result Session::Impl::perform_send(const Outgoing& mail, bool fresh, bool& retry_on_new_connection) {
  retry_on_new_connection = false;
  // An idle connection the server closed (or ended with a 421) is replaced before MAIL.
  if (easy && (fresh || wire->closed_while_idle())) drop();
  const bool reused = easy != nullptr;
  if (!easy)
    if (auto failure = open()) return *failure;
  transcript.reset();
  errbuf[0] = '\0';
  return transaction(mail, reused, retry_on_new_connection);
}

namespace {

// Reads one whole reply into `t`, a line at a time (what follows stays on the wire for the next
// command's reply).  A reply of more than 64 KiB is not a server talking SMTP.
CURLcode read_reply(Wire& w, Transcript& t) {
  const std::size_t before = t.replies;
  std::string line;
  std::size_t bytes = 0;
  while (t.replies == before) {
    if (const CURLcode c = w.read_line(line); c != CURLE_OK) return c;
    bytes += line.size();
    if (bytes > 64 * 1024) return CURLE_WEIRD_SERVER_REPLY;
    t.on_in(line.data(), line.size());
  }
  return CURLE_OK;
}

}  // namespace

// Something went wrong in the transaction: `rc` an I/O error (the connection is dropped), or
// CURLE_OK with a refusal in the transcript (the replies still owed are read, then RSET).
Result Session::Impl::failed(CURLcode rc, const Outgoing& mail, bool reused, bool data_started, std::size_t unread, bool& retry) {
  const bool closing = rc == CURLE_OK && transcript.last.code == 421;
  // A reused connection that turns out dead (idle timeout, server restart) before any of this
  // mail's data went out: safe to try once more on a new connection.
  retry = reused && !data_started && (rc != CURLE_OK || closing);
  // An I/O error is the reason whatever an earlier command got: a refused first recipient must
  // not turn a connection dropped before the second's reply into "refused every recipient".
  Transcript seen = transcript;
  if (rc != CURLE_OK) seen.last_phase = Phase::other;
  Result r = rc == CURLE_OK ? classify_reply(transcript, mail.envelope_from, mail.recipients, mail.data.size())
                            : classify(rc, easy, seen, errbuf, mail.envelope_from, mail.recipients, mail.data.size());
  if (rc != CURLE_OK || closing) {
    drop();
    return r;
  }
  Transcript rest;  // the owed replies and RSET's: not this mail's reason
  CURLcode c = CURLE_OK;
  bool in_data = false;  // a server that said 354 to a DATA it should have refused: RSET would be text
  for (std::size_t i = 0; i < unread && c == CURLE_OK; ++i) {
    c = read_reply(*wire, rest);
    in_data = in_data || rest.last.code == 354;
  }
  if (in_data) {
    drop();
    return r;
  }
  if (c == CURLE_OK) c = wire->write("RSET\r\n");
  if (c == CURLE_OK) c = read_reply(*wire, rest);
  if (c != CURLE_OK || rest.last.code != 250) drop();
  return r;
}

// One mail on the open connection.  With PIPELINING (RFC 2920) MAIL, every RCPT and DATA go out
// in one write and the replies are read in order; without it, one command at a time.  The
// transcript sees them one at a time either way, so each reply is read against its command.
Result Session::Impl::transaction(const Outgoing& mail, bool reused, bool& retry) {
  Wire& w = *wire;
  std::vector<std::string> cmds;
  cmds.reserve(mail.recipients.size() + 2);
  cmds.push_back("MAIL FROM:<" + mail.envelope_from + ">" + (size_ext ? " SIZE=" + std::to_string(mail.data.size()) : "") +
                 "\r\n");
  for (const auto& r : mail.recipients) cmds.push_back("RCPT TO:<" + r + ">\r\n");
  cmds.push_back("DATA\r\n");
  const std::size_t data_cmd = cmds.size() - 1;

  std::size_t written = 0;
  const auto write_upto = [&](std::size_t n) {
    std::string batch;
    for (; written < n; ++written) batch += cmds[written];
    return batch.empty() ? CURLE_OK : w.write(batch);
  };
  std::size_t accepted = 0;
  for (std::size_t i = 0; i < cmds.size(); ++i) {
    if (i == data_cmd && accepted == 0)  // every recipient refused: DATA's answer is not the reason
      return failed(CURLE_OK, mail, reused, false, written - i, retry);
    // Pipelined, at most kPipelineWindow commands ahead of their replies: a mail to thousands
    // would otherwise fill both sides' buffers and stall (RFC 2920's deadlock).
    const std::size_t ahead = written - i <= kPipelineWindow / 2 ? std::min(cmds.size(), i + kPipelineWindow) : written;
    CURLcode rc = write_upto(pipelining ? ahead : i + 1);
    transcript.on_out(cmds[i].data(), cmds[i].size());
    if (rc == CURLE_OK) rc = read_reply(w, transcript);
    if (rc != CURLE_OK) return failed(rc, mail, reused, false, 0, retry);
    const int code = transcript.last.code;
    const bool refused = i == 0 ? code != 250 : i == data_cmd ? code != 354 : code / 100 != 2;  // no code: refused
    if (refused && (i == 0 || i == data_cmd || code == 421)) return failed(CURLE_OK, mail, reused, false, written - i - 1, retry);
    if (!refused && i > 0) ++accepted;
  }
  CURLcode rc = w.write_message(mail.data, mail.before_dot);
  if (rc == CURLE_ABORTED_BY_CALLBACK) {
    drop();  // mid-DATA: only closing the connection makes the server discard the message
    return make(Outcome::temporary, "The mail was held back before its end of data; nothing was handed to " + hp + ".");
  }
  if (rc == CURLE_OK) rc = read_reply(w, transcript);
  if (rc != CURLE_OK) return failed(rc, mail, reused, true, 0, retry);
  if (transcript.last.code / 100 != 2) {  // only a 2xx takes the mail (a blank line does not)
    Result r = classify_reply(transcript, mail.envelope_from, mail.recipients, mail.data.size());
    if (transcript.last.code == 421) drop();
    return r;
  }

  Result out;
  out.outcome = Outcome::sent;
  out.code = transcript.last.code;
  out.reply = transcript.last.text;
  std::string list;
  for (std::size_t i = 0; i < transcript.rcpt.size() && i < mail.recipients.size(); ++i) {
    if (transcript.rcpt[i].code / 100 == 2) continue;
    out.refused_recipients.push_back(mail.recipients[i]);
    if (!list.empty()) list += "; ";
    list += printable(mail.recipients[i]) + " (" + one_line(transcript.rcpt[i]) + ")";
  }
  if (!list.empty())
    out.message = "Sent through " + hp + ", but the server refused some recipients: " + shorten(list, 2 * kMaxReplyInMessage) +
                  ". Check those addresses.";
  return out;
}

// ==================================================================== Session

Session::Session(Endpoint endpoint, Credentials credentials)
    : impl_(std::make_unique<Impl>(std::move(endpoint), std::move(credentials))) {}

Session::~Session() = default;
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;

std::size_t Session::connections_opened() const noexcept { return impl_ ? impl_->connections : 0; }

void Session::close() {
  if (impl_) impl_->close();
}

namespace {
Result moved_from() { return make(Outcome::permanent, "Internal error: SMTP session used after it was moved from."); }
}  // namespace

Result Session::send(const Outgoing& mail) {
  if (!impl_) return moved_from();
  Impl& s = *impl_;
  s.prepare();
  if (s.setup_error) return *s.setup_error;
  if (mail.recipients.empty())
    return make(Outcome::permanent, "The mail has no recipients; nothing was sent through " + s.hp + ".");
  if (!valid_address(mail.envelope_from, true))
    return make(Outcome::permanent, "The sender address '" + printable(mail.envelope_from) +
                                        "' is not valid (control characters or angle brackets). Correct the sender address.");
  for (const auto& r : mail.recipients)
    if (!valid_address(r, false))
      return make(Outcome::permanent, "The recipient address '" + printable(r) +
                                          "' is not valid (empty, control characters or angle brackets). Correct it.");
  if (mail.data.empty()) return make(Outcome::permanent, "The message is empty; nothing was sent through " + s.hp + ".");

  bool retry = false;
  Result r = s.perform_send(mail, false, retry);
  if (retry) r = s.perform_send(mail, true, retry);
  return r;
}

// Long: Test Connection walks the SMTP dialogue step by step (connect, EHLO, STARTTLS, AUTH,
// MAIL, RCPT, RSET) and names the step that failed; the steps share one transcript.
Result Session::test(std::string_view from, std::string_view to) {
  if (!impl_) return moved_from();
  Impl& s = *impl_;
  s.prepare();
  if (s.setup_error) return *s.setup_error;
  if (!valid_address(from, true))
    return make(Outcome::permanent, "The test sender address '" + printable(from) + "' is not valid. Correct it.");
  if (!valid_address(to, false))
    return make(Outcome::permanent, "The test recipient address '" + printable(to) + "' is not valid. Correct it.");

  const std::vector<std::string> recipients{std::string(to)};
  Transcript t;
  char eb[CURL_ERROR_SIZE] = {};
  CURL* h = curl_easy_init();
  if (!h) return make(Outcome::temporary, "Cannot create a libcurl handle (out of memory).");
  s.configure(h, &t, eb);
  // libcurl 7.88: with CONNECT_ONLY an smtp:// transfer still does greeting, EHLO, STARTTLS,
  // EHLO and AUTH (they are SMTP's "connect" phase), then hands over the connection.
  curl_easy_setopt(h, CURLOPT_CONNECT_ONLY, 1L);
  CURLcode rc = curl_easy_perform(h);
  long opened = 0;
  curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &opened);
  s.connections += static_cast<std::size_t>(std::max(0L, opened));
  if (rc != CURLE_OK) {
    Result r = s.classify(rc, h, t, eb, from, recipients, 0);
    curl_easy_cleanup(h);
    return r;
  }
  if (s.cred.kind != AuthKind::none && !t.auth_attempted) {
    // libcurl skips AUTH silently when the server offers none; the test must say so.
    Result r = s.unauthenticated(t);
    curl_easy_cleanup(h);
    return r;
  }

  curl_socket_t sock = CURL_SOCKET_BAD;
  curl_easy_getinfo(h, CURLINFO_ACTIVESOCKET, &sock);
  Wire wire(h, s.ep.timeout);
  auto command = [&](const std::string& line) -> CURLcode {
    t.on_out(line.data(), line.size());
    const CURLcode c = wire.write(line);
    return c == CURLE_OK ? read_reply(wire, t) : c;
  };

  struct Step {
    std::string line;
    int ok1, ok2;
  };
  const Step steps[] = {{"MAIL FROM:<" + std::string(from) + ">\r\n", 250, 250},
                        {"RCPT TO:<" + std::string(to) + ">\r\n", 250, 251},
                        {"DATA\r\n", 354, 354}};
  for (const Step& step : steps) {
    rc = command(step.line);
    if (rc == CURLE_OK && t.last.code != step.ok1 && t.last.code != step.ok2) {
      Result r = s.classify_reply(t, from, recipients, 0);
      if (t.last.code < 400) {  // an unexpected positive answer
        r.outcome = Outcome::permanent;
        r.message = s.hp + " answered " + one_line(t.last) + " to " + std::string(phase_words(t.last_phase)) + " instead of " +
                    std::to_string(step.ok1) + ". Check that this is an SMTP submission server.";
      }
      curl_easy_cleanup(h);  // QUIT (no DATA was started)
      return r;
    }
    if (rc != CURLE_OK) {
      Result r = s.classify(rc, h, t, eb, from, recipients, 0);
      curl_easy_cleanup(h);
      return r;
    }
  }
  // DATA answered 354: drop the connection without sending a single byte of message data.
  // (A QUIT now would be read as message text; shutting the socket down makes libcurl's
  // QUIT at cleanup fail instead of going out.)  The server discards the open transaction.
  ::shutdown(sock, SHUT_RDWR);
  curl_easy_cleanup(h);

  Result r;
  r.outcome = Outcome::sent;
  r.code = t.last.code;
  r.reply = t.last.text;
  r.message = "Connection test successful: " + s.hp + " accepted " +
              std::string(s.cred.kind == AuthKind::none ? "" : "the login, ") + "the sender " +
              (from.empty() ? std::string("<>") : printable(from)) + " and the recipient " + printable(to) +
              " (nothing was sent).";
  return r;
}

}  // namespace juniper::mail::smtp
