// Routing from what an administrator configures (server records, system parameters, the
// Custom Email Servers setting), as `juniper mail route` shows it.
#include "mail_fixture.hpp"

#include "core/errors.hpp"
#include "mail/config.hpp"

#include <catch2/catch.hpp>

using juniper::test::MailHost;
namespace mail = juniper::mail;
namespace records = juniper::records;

namespace {
nlohmann::json route(MailHost& t, const std::string& from) {
  auto e = t.env();
  const auto cfg = mail::load_mail_config(e, t.conf());
  return mail::describe_route(mail::make_router(cfg).route(from));
}
}  // namespace

TEST_CASE("the seed's single generic server: every mail goes out as notifications@ with the user's name", "[mail][routing]") {
  MailHost t;
  auto lock = t.host->db().lock();
  t.custom_servers(true);
  t.param("mail.default.from", "notifications");
  t.param("mail.catchall.domain", "example.com");
  const auto id = t.postfix_server("Notifications", "notifications@example.com");
  const auto r = route(t, "\"John Doe\" <john@example.com>");
  CHECK(r["server_id"] == id);
  CHECK(r["server"] == "Notifications");
  CHECK(r["from"] == "\"John Doe\" <notifications@example.com>");
  CHECK(r["envelope"] == "notifications@example.com");
}

TEST_CASE("the seed's per-user servers with a notifications fallback", "[mail][routing]") {
  MailHost t;
  auto lock = t.host->db().lock();
  t.custom_servers(true);
  t.param("mail.default.from", "notifications");
  t.param("mail.catchall.domain", "example.com");
  const auto notif = t.postfix_server("Notifications", "notifications@example.com");
  const auto john = t.postfix_server("John", "john@example.com");
  const auto jane = t.postfix_server("Jane", "jane@example.com");
  CHECK(route(t, "\"John Doe\" <john@example.com>")["server_id"] == john);
  CHECK(route(t, "\"John Doe\" <john@example.com>")["from"] == "\"John Doe\" <john@example.com>");
  CHECK(route(t, "Jane <JANE@Example.COM>")["server_id"] == jane);
  const auto bob = route(t, "\"Bob\" <bob@other.org>");
  CHECK(bob["server_id"] == notif);
  CHECK(bob["from"] == "\"Bob\" <notifications@example.com>");
  SECTION("an inactive server is skipped") {
    auto e = t.env();
    records::write(e, mail::kOutgoingServer, john, {{"active", false}});
    CHECK(route(t, "john@example.com")["server_id"] == notif);
    CHECK(route(t, "john@example.com")["from"] == "\"john\" <notifications@example.com>");
  }
  SECTION("ties in priority go to the older server") {
    const auto john2 = t.postfix_server("John again", "john@example.com");
    CHECK(route(t, "john@example.com")["server_id"] == john);
    auto e = t.env();
    records::write(e, mail::kOutgoingServer, john2, {{"sequence", 5}});
    CHECK(route(t, "john@example.com")["server_id"] == john2);
  }
}

TEST_CASE("with Custom Email Servers off, server records are not used", "[mail][routing]") {
  MailHost t;
  auto lock = t.host->db().lock();
  t.postfix_server("Ignored", "");
  const auto r = route(t, "john@example.com");
  CHECK(r["server_id"].is_null());
  CHECK(r["server"].is_null());
  t.custom_servers(true);
  CHECK(route(t, "john@example.com")["server"] == "Ignored");
}

TEST_CASE("juniper.conf's SMTP settings are checked, a typo never means plaintext", "[mail][config]") {
  MailHost t;
  auto lock = t.host->db().lock();
  auto e = t.env();
  auto conf = t.conf();
  conf["smtp_server"] = "smtp.example.com";
  conf["smtp_encryption"] = "starttls";
  conf["smtp_port"] = "587";
  const auto ok = mail::load_mail_config(e, conf);
  CHECK(ok.smtp.port == 587);
  CHECK(ok.smtp.encryption == "starttls");
  conf["smtp_encryption"] = "tls";
  CHECK_THROWS_WITH(mail::load_mail_config(e, conf),
                    "juniper.conf: smtp_encryption: unknown connection security \"tls\" (none, starttls or ssl)");
  conf["smtp_encryption"] = "ssl";
  for (const std::string bad : {"58x", "0", "70000", "port"}) {
    conf["smtp_port"] = bad;
    CHECK_THROWS_WITH(mail::load_mail_config(e, conf),
                      "juniper.conf: smtp_port must be a port number (1 to 65535), not \"" + bad + "\"");
  }
}

TEST_CASE("declared system parameters refuse, when set, a value their reader could not use", "[mail][config]") {
  MailHost t;
  auto lock = t.host->db().lock();
  auto e = t.env();
  const auto refused = [&](const std::string& key, const std::string& value) {
    try {
      records::param_set(e, key, value);
    } catch (const juniper::UserError& x) {
      return std::string(x.what());
    }
    return std::string();
  };
  CHECK(refused("mail.queue.lease", "abc") ==
        "the system parameter mail.queue.lease must be a whole number from 1 to 3600 (seconds a claimed mail stays with "
        "its sender), not \"abc\"");
  CHECK(refused("mail.queue.interval", "0") != "");
  CHECK(refused("mail.fetch.batch", "12x") != "");
  CHECK(refused("mail.max_size", "-5") != "");
  CHECK(refused("mail.queue.max_age", "soon") ==
        "the system parameter mail.queue.max_age must be a duration such as 5d, 12h or 3600, not \"soon\"");
  CHECK(refused("web.base.url", "erp.example.com") != "");
  CHECK(refused("web.base.url", "https://") != "");
  CHECK_FALSE(records::param_get(e, "mail.queue.lease"));  // nothing stored by a refusal
  // Good values pass, and undeclared keys stay free-form.
  CHECK(refused("mail.queue.lease", "30") == "");
  CHECK(refused("mail.queue.max_age", "5d") == "");
  CHECK(refused("web.base.url", "https://erp.example.com") == "");
  CHECK(refused("my.own.setting", "anything at all") == "");
  CHECK(records::param_get(e, "mail.queue.lease") == "30");
}
