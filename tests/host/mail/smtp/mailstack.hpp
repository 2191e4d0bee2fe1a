// Test fixture: the real mail stack of tests/mailstack (Postfix + Dovecot + simulated
// Microsoft identity platform).  Started once per test run (and stopped at exit) unless
// JUNIPER_MAILSTACK_DIR names an already running stack.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace mailstack {

class Stack {
 public:
  static Stack& get();  // starts the stack on first use

  std::string dir;
  int smtp_port = 0;
  int port_base = 0;
  std::string ca_file, idp_url, maildir_root, postfix_log, postfix_config_dir;
  std::map<std::string, std::string> env;

  // A fresh OAuth access token for `user` (app "c1" registered once).
  std::string token_for(const std::string& user);
  // tests/mailstack/postfix.sh DIR stop|start
  void postfix(const std::string& action);
  // Postfix log: a mark (current size) and what was written after it.
  std::uintmax_t log_mark() const;
  std::string log_since(std::uintmax_t mark) const;
  // Polls until `needle` appears in the log after `mark` (true) or the timeout passes.
  bool wait_log(std::uintmax_t mark, const std::string& needle, std::chrono::milliseconds timeout) const;
  // Delivered files (new + cur) of a recipient's maildir.
  std::vector<std::string> mail_files(const std::string& rcpt) const;
  std::vector<std::string> wait_mail(const std::string& rcpt, std::size_t count, std::chrono::milliseconds timeout) const;
  long message_size_limit() const;

  ~Stack();
  Stack(const Stack&) = delete;
  Stack& operator=(const Stack&) = delete;

 private:
  Stack();
  void load_env();
  bool owned_ = false;
  bool app_registered_ = false;
};

// A unique local part for this run: "<prefix>-<pid>-<n>".
std::string unique(const std::string& prefix);
// An RFC 5322 message of about `size` bytes (CRLF line ends).
std::string message(const std::string& from, const std::string& to, const std::string& subject, std::size_t size = 600);
std::string read_file(const std::string& path);
// Occurrences of `needle` in `hay`.
std::size_t count(const std::string& hay, const std::string& needle);

}  // namespace mailstack
