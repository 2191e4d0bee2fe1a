// The Outlook suites' fixture: a host with the module installed, the simulated identity
// platform configured, and helpers to create, connect and use Outlook servers.
#pragma once

#include "provider_fixture.hpp"

#include "core/errors.hpp"
#include "records/users.hpp"

#include <catch2/catch.hpp>

namespace outlook_test {

using juniper::test::MailHost;
using juniper::test::unique_mailbox;
using juniper::test::WebClient;
using json = nlohmann::json;
namespace mail = juniper::mail;
namespace records = juniper::records;

struct OutlookHost : juniper::test::ProviderHost {
  OutlookHost()
      : ProviderHost({"microsoft_outlook", "outlook_connect", "&auto=1", [](MailHost& h) {
                        auto e = h.env();
                        records::setting_set(e, "microsoft_outlook_client_identifier", "juniper-test");
                        records::setting_set(e, "microsoft_outlook_client_secret", "test-secret");
                        h.param("microsoft_outlook.endpoint", h.stack["IDP_URL"] + "/{tenant}/oauth2/v2.0/");
                      }}) {}

  // An Outlook outgoing server pointed at the test Postfix (the change-default filled in
  // smtp.office365.com:587, which we override like a tenant-specific endpoint would).
  std::int64_t outlook_server(const std::string& name, const std::string& user) {
    auto lock = host->db().lock();
    auto e = env();
    const auto id =
        records::create(e, mail::kOutgoingServer, {{"name", name}, {"smtp_authentication", "outlook"}, {"smtp_user", user}});
    const auto rec = records::read(e, mail::kOutgoingServer, id);
    CHECK(rec["smtp_host"] == "smtp.office365.com");
    CHECK(rec["smtp_port"] == 587);
    CHECK(rec["smtp_encryption"] == "starttls");
    CHECK(rec["max_recipients"] == 500);            // Exchange Online's limit per message
    CHECK(rec["max_per_minute"] == 30);             // and its message rate limit
    CHECK(rec["max_recipients_per_day"] == 10000);  // and its daily recipient limit
    CHECK(rec["from_filter"] == user);              // follows the username
    CHECK(rec["microsoft_outlook_token_status"] == "missing");
    records::write(e, mail::kOutgoingServer, id, {{"smtp_host", "127.0.0.1"}, {"smtp_port", stack["SMTP_PORT"]}});
    return id;
  }

  // A connected Outlook server with one mail queued to a fresh mailbox, its access token expired.
  struct Queued {
    std::int64_t server_id = 0;
    std::int64_t mail_id = 0;
    std::string rcpt;
  };
  Queued queued_with_expired_token(const std::string& name, const std::string& tag) {
    const std::string mailbox = unique_mailbox(tag);
    Queued q;
    q.server_id = outlook_server(name, mailbox);
    REQUIRE(consent_and_confirm(connect_url(mail::kOutgoingServer, q.server_id)).status == 303);
    q.rcpt = unique_mailbox(tag + "-rcpt");
    auto lock = host->db().lock();
    q.mail_id = send(mailbox, q.rcpt, tag);
    auto e = env();
    records::write(e, mail::kOutgoingServer, q.server_id, {{"microsoft_outlook_access_token_expiration", 0}});
    return q;
  }

  json idp_counts() { return json::parse(stack.idp("/_control/counts", "")); }
  long refresh_requests() {
    const auto c = idp_counts();
    return c.at("token").value("refresh_token", 0L);
  }
};

}  // namespace outlook_test
