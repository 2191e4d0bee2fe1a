// Routing from what an administrator configures (server records, system parameters, the
// Custom Email Servers setting), as `juniper mail route` shows it.
#include "mail_fixture.hpp"

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
