// What routing and sending need from the database and juniper.conf, read once per run.
#pragma once

#include "records/registry.hpp"

#include "mail/router.hpp"
#include "records/env.hpp"

#include <chrono>
#include <map>
#include <optional>
#include <string_view>

namespace juniper::mail {

// juniper.conf's default SMTP settings, used when Custom Email Servers is off (or no server
// record exists), as Odoo uses its command-line SMTP options.
struct DefaultSmtp {
  std::string host;
  int port = 25;
  std::string encryption = "none";  // none | starttls | ssl
  std::string user;
  std::string password;
  std::size_t max_recipients = 100;  // juniper.conf smtp_max_recipients
  bool configured() const { return !host.empty(); }
};

struct MailConfig {
  bool custom_servers = false;          // the "Custom Email Servers" setting
  std::vector<OutgoingServer> servers;  // ir.mail_server records (used only when custom_servers)
  RoutingDefaults defaults;
  DefaultSmtp smtp;
  std::string ca_file;             // extra CA for TLS (JUNIPER_CA_FILE / juniper.conf ca_file)
  std::chrono::seconds lease{60};  // system parameter mail.queue.lease
  // mail.queue.max_age: a mail still failing transiently this long after it was queued becomes
  // an exception with its last reason (Postfix's maximal_queue_lifetime, 5 days).
  std::chrono::seconds max_age{5 * 24 * 3600};
};

// "3600", "90s", "30m", "12h", "5d" as seconds; nullopt when it is none of these.
std::optional<std::chrono::seconds> parse_duration(std::string_view text);

// The mail application's system parameters with their checks (mail.queue.interval,
// mail.fetch.interval, mail.queue.lease, mail.queue.max_age, mail.fetch.batch, mail.max_size):
// a value their reader could not use is refused when it is set.
void declare_params(records::Registry& registry);

MailConfig load_mail_config(records::Env& env, const std::map<std::string, std::string>& conf);
Router make_router(const MailConfig& config);

// {"server_id": 3 | null, "server": "Notifications" | null, "from_filter": "...", "from": "...",
//  "envelope": "...", "warning": "..."} for `juniper mail route`.
nlohmann::json describe_route(const RouteDecision& d);

}  // namespace juniper::mail
