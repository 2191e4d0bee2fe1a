// Real Postfix + Dovecot + simulated identity platform for the IMAP tests
// (tests/mailstack/).  Started on first use, stopped by main() after the run, unless
// JUNIPER_MAILSTACK_DIR names a running stack (then it is used and left running).
//
// Putting mail into a mailbox:
//  * deliver_maildir() writes the file straight into $MAILDIR_ROOT/<user>/Maildir/new/
//    (tmp/ then rename, owned by the `mail` user): fast, and the bytes Dovecot serves are
//    exactly the bytes written (files are written with CRLF line ends);
//  * deliver_smtp() submits it with the curl tool over SMTP (STARTTLS, alice's password)
//    and waits until Dovecot LMTP stored it: the real path, but Postfix adds headers.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>

namespace juniper::test {

class MailStack {
 public:
  static MailStack& get();  // starts the stack if needed (throws on failure)
  static void shutdown();   // stops a stack this process started; idempotent

  const std::string& dir() const { return dir_; }
  std::string env(const std::string& key) const;  // a value from DIR/env ("" if absent)
  int port(const std::string& key) const;         // a port value from DIR/env (0 if absent)
  std::string ca_file() const { return env("CA_FILE"); }

  // A new address each call: "<prefix>-<pid>-<n>@example.com".
  std::string fresh_address(const std::string& prefix);
  // Adds (or changes) a password user (adduser.sh).
  void add_password_user(const std::string& address, const std::string& password);
  // An access token for `user` from the IdP (app "c1" registered once).
  std::string token_for(const std::string& user);
  // POST JSON to $IDP_URL/_control/<name>; returns the response body (throws unless 200).
  std::string idp_control(const std::string& name, const std::string& json_body);

  // See the file comment.  Returns the file name written.
  std::string deliver_maildir(const std::string& user, const std::string& bytes);
  void deliver_smtp(const std::string& to, const std::string& bytes, std::chrono::seconds wait = std::chrono::seconds(20));
  // Messages in new/ + cur/ of the user's maildir.
  std::size_t maildir_count(const std::string& user) const;

  // dovecot.sh DIR stop|start.
  void dovecot(const std::string& action);

 private:
  MailStack() = default;
  void start();
  void load_env();

  std::string dir_;
  bool owned_ = false;
  bool app_registered_ = false;
  std::map<std::string, std::string> env_;
  unsigned counter_ = 0;
};

// Runs a shell command; throws with its exit status unless it succeeded.
void sh(const std::string& command);
// Single-quoted for sh.
std::string shell_quote(const std::string& s);

}  // namespace juniper::test
