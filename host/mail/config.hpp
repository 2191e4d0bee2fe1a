// What routing and sending need from the database and juniper.conf, read once per run.
#pragma once

#include "mail/router.hpp"
#include "records/env.hpp"

#include <chrono>
#include <map>

namespace juniper::mail {

// juniper.conf's default SMTP settings, used when Custom Email Servers is off (or no server
// record exists), as Odoo uses its command-line SMTP options.
struct DefaultSmtp {
  std::string host;
  int port = 25;
  std::string encryption = "none";  // none | starttls | ssl
  std::string user;
  std::string password;
  bool configured() const { return !host.empty(); }
};

struct MailConfig {
  bool custom_servers = false;         // the "Custom Email Servers" setting
  std::vector<OutgoingServer> servers; // ir.mail_server records (used only when custom_servers)
  RoutingDefaults defaults;
  DefaultSmtp smtp;
  std::string ca_file;                 // extra CA for TLS (JUNIPER_CA_FILE / juniper.conf ca_file)
  std::chrono::seconds lease{60};      // system parameter mail.queue.lease
};

MailConfig load_mail_config(records::Env& env, const std::map<std::string, std::string>& conf);
Router make_router(const MailConfig& config);

// {"server_id": 3 | null, "server": "Notifications" | null, "from_filter": "...", "from": "...",
//  "envelope": "...", "warning": "..."} for `juniper mail route`.
nlohmann::json describe_route(const RouteDecision& d);

}  // namespace juniper::mail
