#include "fake_smtp.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sstream>
#include <stdexcept>

namespace fake_smtp {

Server::Server(Script script) : script_(std::move(script)) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  if (listen_fd_ < 0) throw std::runtime_error("socket");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(listen_fd_, 8) != 0)
    throw std::runtime_error("bind/listen");
  socklen_t len = sizeof a;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
  thread_ = std::thread([this] { run(); });
}

Server::~Server() {
  stop_ = true;
  thread_.join();
  ::close(listen_fd_);
}

std::vector<std::string> Server::commands() const {
  std::lock_guard<std::mutex> lock(mu_);
  return commands_;
}

void Server::run() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    const int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) continue;
    ++connections_;
    serve(fd);
    ::close(fd);
    ++closed_;
  }
}

namespace {

bool send_line(int fd, const std::string& line) {
  const std::string s = line + "\r\n";
  return ::send(fd, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size());
}

}  // namespace

void Server::serve(int fd) {
  std::string buf;
  // Reads one line (without CRLF); false on EOF / stop.
  auto read_line = [&](std::string& line) {
    for (;;) {
      const auto nl = buf.find("\r\n");
      if (nl != std::string::npos) {
        line = buf.substr(0, nl);
        buf.erase(0, nl + 2);
        return true;
      }
      pollfd p{fd, POLLIN, 0};
      const int n = ::poll(&p, 1, 50);
      if (stop_) return false;
      if (n <= 0) continue;
      char tmp[65536];
      const ssize_t got = ::recv(fd, tmp, sizeof tmp, 0);
      if (got <= 0) return false;
      buf.append(tmp, static_cast<std::size_t>(got));
    }
  };
  if (script_.silent) {
    std::string ignored;
    while (read_line(ignored)) {
    }
    return;
  }
  if (!send_line(fd, script_.greeting) || script_.greeting.rfind("220", 0) != 0) return;
  std::string line;
  bool in_mail = false;  // a transaction: MAIL accepted
  int accepted = 0;      // its recipients accepted
  while (read_line(line)) {
    if (!buf.empty()) ++pipelined_;
    std::string verb = line.substr(0, line.find(' '));
    for (auto& c : verb) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    {
      std::lock_guard<std::mutex> lock(mu_);
      commands_.push_back(verb == "AUTH" ? "AUTH ***" : line);
    }
    if (verb == "EHLO" || verb == "HELO") {
      send_line(fd, "250-fake.test");
      if (script_.offer_starttls) send_line(fd, "250-STARTTLS");
      if (script_.offer_auth) send_line(fd, "250-AUTH " + script_.auth_mechanisms);
      if (script_.offer_pipelining) send_line(fd, "250-PIPELINING");
      send_line(fd, "250 8BITMIME");
    } else if (verb == "AUTH") {
      // The exchange a client expects: prompts (334) for what the AUTH line did not carry.
      std::istringstream words(line);
      std::string auth, mech, initial;
      words >> auth >> mech >> initial;
      for (auto& c : mech) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      std::string answer;
      if (mech == "LOGIN" && initial.empty()) {
        send_line(fd, "334 VXNlcm5hbWU6");
        if (!read_line(answer)) return;
      }
      if (mech == "LOGIN" || initial.empty()) {
        send_line(fd, mech == "LOGIN" ? "334 UGFzc3dvcmQ6" : "334 ");
        if (!read_line(answer)) return;
      }
      send_line(fd, script_.auth_reply);
    } else if (verb == "MAIL") {
      send_line(fd, script_.mail_reply);
      in_mail = script_.mail_reply.rfind("250", 0) == 0;
      accepted = 0;
    } else if (verb == "RCPT" && !in_mail) {
      send_line(fd, "503 5.5.1 Error: need MAIL command");
    } else if (verb == "DATA" && accepted == 0) {
      send_line(fd, in_mail ? "554 5.5.1 Error: no valid recipients" : "503 5.5.1 Error: need RCPT command");
    } else if (verb == "RCPT") {
      const auto lt = line.find('<'), gt = line.find('>');
      const std::string addr = lt != std::string::npos && gt != std::string::npos ? line.substr(lt + 1, gt - lt - 1) : "";
      if (!script_.close_at_rcpt.empty() && addr == script_.close_at_rcpt) {
        const linger reset{1, 0};  // an abortive close: the client reads a reset, not an end of file
        ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
        return;
      }
      const auto it = script_.rcpt_replies.find(addr);
      const std::string reply = it != script_.rcpt_replies.end() ? it->second : "250 2.1.5 Ok";
      if (reply.rfind("25", 0) == 0) ++accepted;
      send_line(fd, reply);
    } else if (verb == "DATA") {
      in_mail = false;
      send_line(fd, script_.data_reply);
      if (script_.data_reply.rfind("354", 0) != 0) continue;
      const int nth = data_commands_++;
      if (script_.close_during_body || (script_.close_during_body_from >= 0 && nth >= script_.close_during_body_from)) {
        std::string first;
        read_line(first);
        return;  // drop
      }
      std::string body;
      while (read_line(line) && line != ".") {
      }
      if (line != ".") return;
      if (script_.before_eom) script_.before_eom(nth);
      if (script_.eom_reply.rfind("250", 0) == 0) ++messages_;  // before the client can see the 250
      send_line(fd, script_.eom_reply);
      if (script_.lazy_drop_after_each_message) {
        send_line(fd, "421 4.4.2 fake.test Error: timeout exceeded");
        ++dropped_;
        read_line(line);
        return;
      }
      if (script_.drop_after_each_message) {
        send_line(fd, "421 4.4.2 fake.test Error: timeout exceeded");
        ++dropped_;
        return;
      }
    } else if (verb == "RSET" || verb == "NOOP") {
      if (verb == "RSET") in_mail = false;
      send_line(fd, "250 2.0.0 Ok");
    } else if (verb == "QUIT") {
      send_line(fd, "221 2.0.0 Bye");
      return;
    } else if (verb == "STARTTLS") {
      if (script_.close_at_starttls) {
        send_line(fd, "220 2.0.0 Ready to start TLS");
        return;
      }
      send_line(fd, "454 4.7.0 TLS not available");
    } else {
      send_line(fd, "502 5.5.2 Error: command not recognized");
    }
  }
}

}  // namespace fake_smtp
