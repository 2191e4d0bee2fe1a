// The real mail stack of tests/mailstack (Postfix, Dovecot, simulated identity platform) for a
// test process: started on first use and stopped when the process ends (even killed), or an
// already running one named by JUNIPER_MAILSTACK_DIR (then left running). Port base:
// JUNIPER_TEST_MAIL_PORT_BASE (default: a free one, see start.sh). Waits poll a condition up to a
// deadline, never a fixed time.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace juniper::test {

class MailStack {
 public:
  static MailStack& get();  // starts or attaches on first use; throws if it cannot

  // DIR/env: a value (throws if the key is unknown); a port (0 when empty: a service that is off).
  std::string operator[](const std::string& key) const;
  int port(const std::string& key) const;

  // tests/mailstack/<script> DIR <args>, e.g. run("postfix.sh stop"); throws if it fails.
  void run(const std::string& script_and_args) const;
  // Adds (or changes) a password user, and returns once Dovecot accepts the password.
  void add_user(const std::string& address, const std::string& password) const;

  // POSTs json (GETs if empty) to the identity platform's IDP_URL + path; the body. Throws unless 2xx.
  std::string idp(const std::string& path, const std::string& json) const;
  // An access token for `user` (test app "c1"), scoped for SMTP or for IMAP.
  std::string smtp_token(const std::string& user) const;
  std::string imap_token(const std::string& user) const;

  // The texts of the messages in a mailbox (new/ and cur/ of its maildir); their number, without
  // reading them.
  std::vector<std::string> mailbox(const std::string& address) const;
  std::size_t count(const std::string& address) const;
  // The mailbox once it holds `n` messages, or as it is when the timeout passes.
  std::vector<std::string> wait_for_mail(const std::string& address, std::size_t n, std::chrono::milliseconds timeout) const;
  // Writes a message straight into the maildir's new/ (as Dovecot's LMTP would): unseen, exactly
  // these bytes, in delivery order.
  void deliver(const std::string& address, const std::string& raw) const;
  // Submits a message over SMTP as alice (Postfix adds headers); returns once it is stored.
  void submit(const std::string& to, const std::string& raw) const;

  // Postfix's log after a mark (the log's size then), and a wait for a line in it.
  std::uintmax_t postfix_log_mark() const;
  std::string postfix_log_since(std::uintmax_t mark) const;
  bool wait_for_postfix_log(std::uintmax_t mark, const std::string& needle, std::chrono::milliseconds timeout) const;
  int smtp_connections() const;     // connections Postfix logged so far (compare before/after)
  long message_size_limit() const;  // main.cf's, in bytes

  MailStack(const MailStack&) = delete;
  MailStack& operator=(const MailStack&) = delete;

 private:
  MailStack();
  ~MailStack();
  void start();
  void register_test_apps() const;
  std::string access_token(const std::string& user, const std::string& scope) const;
  bool accepts_login(const std::string& address, const std::string& password) const;
  void send_as_alice(const std::string& to, const std::string& raw) const;
  std::filesystem::path maildir(const std::string& address) const;

  std::string dir_;
  std::map<std::string, std::string> env_;
  std::FILE* watchdog_ = nullptr;  // only when this process started the stack
};

// A new address on each call: "<prefix>-<pid>-<n>@example.com".
std::string unique_address(const std::string& prefix);
// An RFC 5322 message of about `size` bytes (CRLF line ends), with a line starting with '.'.
std::string test_message(const std::string& from, const std::string& to, const std::string& subject, std::size_t size = 600);

inline constexpr std::chrono::milliseconds kPollInterval{50};

// Polls until done() or the timeout; done()'s last value.
template <class Condition>
bool eventually(Condition done, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(kPollInterval);
  }
  return true;
}

// The same with the timeout in milliseconds, as the suites that predate the one above pass it.
template <class Condition>
bool eventually(Condition done, int timeout_ms) {
  return eventually(done, std::chrono::milliseconds(timeout_ms));
}

}  // namespace juniper::test
