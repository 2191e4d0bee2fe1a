// Sends what is due: routes each mail at send time, groups mails by (server, envelope sender)
// and sends each group over ONE SMTP connection. Credentials come from the host for `login`
// servers and from the `mail.transport` hook for other kinds (modules such as Outlook).
#pragma once

#include "mail/config.hpp"
#include "modules/hook_bus.hpp"
#include "records/env.hpp"

#include <functional>

namespace juniper::mail {

struct SendReport {
  std::size_t sent = 0;
  std::size_t retried = 0;
  std::size_t failed = 0;
  std::size_t connections = 0;
};

struct SenderOptions {
  std::size_t limit = 0;          // 0: everything due
  std::size_t batch = 200;        // mails claimed at a time
  std::chrono::seconds lease{0};  // 0: the system parameter mail.queue.lease (default 60 s)
  // Wall clock for mail.queue.max_age; tests move it instead of waiting days.
  std::function<std::chrono::system_clock::time_point()> clock;
};

class Sender {
 public:
  Sender(records::Env& env, modules::HookBus& hooks, const std::map<std::string, std::string>& conf);
  SendReport process(const SenderOptions& options = {});

 private:
  records::Env& env_;
  modules::HookBus& hooks_;
  std::map<std::string, std::string> conf_;  // a copy: callers pass temporaries
};

// Credentials for an outgoing server record: {"auth": "none"|"password"|"xoauth2", "user", "secret"}.
// Throws TemporaryError (retry later) or UserError (permanent: the message says what to fix).
nlohmann::json transport_credentials(records::Env& env, modules::HookBus& hooks, const nlohmann::json& server,
                                     bool fresh = false);

// Emits a credentials hook outside any transaction: each write of the handler commits at once.
modules::HookResult emit_committed(records::Env& env, modules::HookBus& hooks, const char* hook, const nlohmann::json& payload);

// The "Test Connection" action: "Connection Test Successful!" or throws UserError with one
// sentence per cause.
std::string test_smtp_connection(records::Env& env, modules::HookBus& hooks, const std::map<std::string, std::string>& conf,
                                 std::int64_t server_id);

}  // namespace juniper::mail
