// A scripted plain-text SMTP server on 127.0.0.1 for the failure paths a real Postfix does
// not produce on demand (421 on an idle connection, 4xx replies, a drop in the middle of
// the message, no STARTTLS, a silent server).  One connection at a time, own thread.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace fake_smtp {

struct Script {
  std::string greeting = "220 fake.test ESMTP";
  bool silent = false;             // accept, never say anything
  bool offer_starttls = false;     // (never actually starts TLS)
  bool close_at_starttls = false;  // "220 Ready to start TLS", then close (a server going down)
  bool offer_auth = true;          // "250-AUTH <auth_mechanisms>"
  bool offer_pipelining = false;   // "250-PIPELINING" (RFC 2920)
  std::string close_at_rcpt;       // reset the connection instead of answering RCPT TO this address
  std::string auth_mechanisms = "PLAIN LOGIN";
  std::string auth_reply = "235 2.7.0 Authentication successful";
  std::string mail_reply = "250 2.1.0 Ok";
  std::map<std::string, std::string> rcpt_replies;  // address -> reply (default 250)
  std::string data_reply = "354 End data with <CR><LF>.<CR><LF>";
  std::string eom_reply = "250 2.0.0 Ok: queued as FAKE";
  bool close_during_body = false;             // drop the connection when message data arrives
  int close_during_body_from = -1;            // ... only from the n-th DATA (0-based) on
  bool drop_after_each_message = false;       // after the 250: "421 ... timeout" and close
  bool lazy_drop_after_each_message = false;  // "421" at once, close only at the next command
  // Runs before the reply to the n-th message (0-based) is sent: a server that is slow to
  // answer until the test has done something (on the server's thread).
  std::function<void(int)> before_eom;
};

class Server {
 public:
  explicit Server(Script script);
  ~Server();
  int port() const { return port_; }
  int connections() const { return connections_.load(); }
  int messages() const { return messages_.load(); }  // completed (250 after the dot)
  std::vector<std::string> commands() const;         // every command line received, AUTH masked
  int dropped() const { return dropped_.load(); }
  // Commands that arrived with the next one already behind them, before they were answered.
  int pipelined() const { return pipelined_.load(); }  // 421s sent by drop_after_each_message / lazy_drop
  int closed() const {
    return closed_.load();
  }  // connections over: what a test waits on before
     // checking that nothing more was sent

 private:
  void run();
  void serve(int fd);
  Script script_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::atomic<int> messages_{0};
  std::atomic<int> dropped_{0};
  std::atomic<int> closed_{0};
  std::atomic<int> pipelined_{0};
  int data_commands_ = 0;
  mutable std::mutex mu_;
  std::vector<std::string> commands_;
  std::thread thread_;
};

}  // namespace fake_smtp
