// The SMTP connection once libcurl has done the session's connect phase (greeting, EHLO,
// STARTTLS, EHLO, AUTH with CURLOPT_CONNECT_ONLY): the mail transactions are ours, carried
// over curl_easy_send/recv, so MAIL, RCPT and DATA can go out in one write (PIPELINING,
// RFC 2920) instead of one round trip each, and the message is written straight from the
// caller's buffer (no upload buffers).
#pragma once

#include <curl/curl.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace juniper::mail::smtp {

class Wire {
 public:
  // `timeout`: the longest wait without progress (a reply line, or room to write).
  Wire(CURL* handle, std::chrono::seconds timeout);

  CURLcode write(std::string_view bytes);
  // The message as DATA's content: lines starting with '.' doubled (RFC 5321 4.5.2), a CRLF
  // added if the data does not end with one, then ".\r\n".  `before_dot`, if set, is called
  // once everything but the final dot is written; false: no dot (CURLE_ABORTED_BY_CALLBACK),
  // and the connection must be dropped, which makes the server discard the message.
  CURLcode write_message(std::string_view data, const std::function<bool()>& before_dot = {});
  // One line, "\n" included.  A line longer than kMaxLine is CURLE_WEIRD_SERVER_REPLY.
  CURLcode read_line(std::string& line);
  // While no command is outstanding: has the server closed the connection or said something
  // (an idle-timeout 421)?  Either way the connection is done.
  bool closed_while_idle();

  void set_timeout(std::chrono::seconds timeout) { timeout_ = timeout; }

  static constexpr std::size_t kMaxLine = 4096;

 private:
  bool wait(short events);
  CURLcode receive();

  CURL* handle_;
  curl_socket_t sock_ = CURL_SOCKET_BAD;
  std::chrono::seconds timeout_;
  std::string in_;
  std::size_t pos_ = 0;  // start of unread bytes in in_
};

}  // namespace juniper::mail::smtp
