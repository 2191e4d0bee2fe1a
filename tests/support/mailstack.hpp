// The real mail stack (Postfix, Dovecot, simulated identity platform) for a test process:
// started once on first use and stopped at exit, or an already running one named by
// JUNIPER_MAILSTACK_DIR. Port base: JUNIPER_TEST_MAIL_PORT_BASE (default: a free one, see start.sh).
#pragma once

#include <time.h>

#include <map>
#include <string>
#include <vector>

namespace juniper::test {

struct MailStack {
  static MailStack& get();

  std::string dir;
  std::map<std::string, std::string> env;  // DIR/env
  std::string operator[](const std::string& k) const { return env.at(k); }

  // Number of SMTP connections Postfix logged so far (compare before/after).
  int smtp_connections() const;
  // Messages in a mailbox's maildir (new + cur); their full texts.
  std::vector<std::string> mailbox(const std::string& address) const;
  // How many messages it holds, without reading them.
  std::size_t count(const std::string& address) const;
  // Delivers a raw message straight into a mailbox (as Dovecot's LMTP would), unseen.
  void deliver(const std::string& address, const std::string& raw) const;
  // POST to the identity platform's control API; returns the body.
  std::string idp(const std::string& path, const std::string& json) const;
  void run(const std::string& script_and_args) const;  // tests/mailstack/<script> DIR args
  // A password user; Dovecot re-reads its users file at most once a second, so this waits.
  void add_user(const std::string& email, const std::string& password) const;

 private:
  MailStack();
  ~MailStack();
  bool owned_ = false;
};

// Polls until pred() or the timeout; returns pred()'s last value.
template <class P>
bool eventually(P pred, int timeout_ms = 5000) {
  for (int waited = 0; waited < timeout_ms; waited += 50) {
    if (pred()) return true;
    struct timespec ts {
      0, 50 * 1000 * 1000
    };
    nanosleep(&ts, nullptr);
  }
  return pred();
}

}  // namespace juniper::test
