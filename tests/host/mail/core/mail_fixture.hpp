// A Host with the mail core, talking to the real Postfix/Dovecot of the test mail stack.
#pragma once

#include "mailstack.hpp"
#include "test_host.hpp"

#include "mail/queue.hpp"
#include "mail/records.hpp"
#include "mail/sender.hpp"
#include "records/params.hpp"
#include "records/record_service.hpp"
#include "records/settings.hpp"

#include <fstream>
#include <string>
#include <utility>
#include <vector>

namespace juniper::test {

struct MailHost : TestHost {
  MailStack& stack = MailStack::get();

  MailHost() { std::ofstream(dir / "juniper.conf") << "ca_file = " << stack["CA_FILE"] << "\n"; }
  records::Env env() { return host->env(); }
  std::map<std::string, std::string> conf() { return host->data().config(); }

  // An outgoing server on the stack's Postfix (STARTTLS), logging in as alice.
  std::int64_t postfix_server(const std::string& name, const std::string& from_filter, int sequence = 10) {
    auto e = env();
    return records::create(e, mail::kOutgoingServer,
                           {{"name", name},
                            {"smtp_host", "127.0.0.1"},
                            {"smtp_port", stack["SMTP_PORT"]},
                            {"smtp_encryption", "starttls"},
                            {"smtp_user", "alice@example.com"},
                            {"smtp_pass", "alice-password"},
                            {"from_filter", from_filter},
                            {"sequence", sequence}});
  }
  // Changes an outgoing server's fields (limits, a port to fail on).
  void write_server(std::int64_t id, const nlohmann::json& values) {
    auto e = env();
    records::write(e, mail::kOutgoingServer, id, values);
  }
  void custom_servers(bool on) {
    auto e = env();
    records::setting_set(e, mail::kCustomServersSetting, on ? "true" : "false");
  }
  void param(const std::string& k, const std::string& v) {
    auto e = env();
    records::param_set(e, k, v);
  }
  mail::SendReport process(std::size_t limit = 0) {
    auto e = env();
    mail::Sender s(e, host->modules().hooks(), conf());
    mail::SenderOptions o;
    o.limit = limit;
    return s.process(o);
  }
  // A queue run at `when`: the queue's clock (what is due, pacing, back-off), moved by tests.
  mail::SendReport process_at(std::chrono::system_clock::time_point when) {
    auto e = env();
    mail::SenderOptions o;
    o.clock = [when] { return when; };
    return mail::Sender(e, host->modules().hooks(), conf()).process(o);
  }
  std::int64_t send(const std::string& from, const std::string& to, const std::string& subject,
                    const std::string& body = "Hello") {
    auto e = env();
    mail::Draft d;
    d.email_from = from;
    d.email_to = to;
    d.subject = subject;
    d.body_text = body;
    return mail::enqueue(e, d);
  }
  nlohmann::json mail(std::int64_t id) {
    auto e = env();
    return records::read(e, mail::kMail, id);
  }
};

// A fresh mailbox name per test, so tests never see each other's mail.
inline std::string unique_mailbox(const std::string& who) { return unique_address(who); }

// `n` fresh mailboxes and the same as one comma-separated To list.
inline std::pair<std::vector<std::string>, std::string> unique_mailboxes(const std::string& who, int n) {
  std::vector<std::string> boxes;
  std::string list;
  for (int i = 0; i < n; ++i) {
    boxes.push_back(unique_mailbox(who));
    list += (list.empty() ? "" : ",") + boxes.back();
  }
  return {boxes, list};
}

inline bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace juniper::test
