// Sign-in with a code (device authorization grant) for hosts with no browser or no public URL:
// the action's first answer, the follow-up until Microsoft answers (SDK 1.5), from the host
// API, the command line and the web pages, against the simulated identity platform.
#include "outlook_fixture.hpp"

#include "aadsts.hpp"  // the module's explanations, compiled in (no SDK behind them)
#include "app/follow_up.hpp"

#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <cstdio>

using juniper::test::eventually;
using juniper::test::unique_mailbox;
using json = nlohmann::json;
namespace app = juniper::app;
namespace mail = juniper::mail;
namespace records = juniper::records;
using outlook_test::OutlookHost;

namespace {

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

struct DeviceHost : OutlookHost {
  // Codes polled every second, so a test waits seconds, not Microsoft's five.
  bool paced = [this] {
    stack.idp("/_control/settings", json{{"device_code_interval", 1}, {"device_code_expires_in", 900}}.dump());
    return true;
  }();

  json start(const char* model, std::int64_t id) {
    return app::invoke_action(*host, records::User{}, model, id, "outlook_connect_device");
  }
  json follow(const char* model, std::int64_t id, const json& first) {
    const auto f = app::follow_up_of(host->env().registry, model, first, std::chrono::system_clock::now());
    REQUIRE(f);
    return app::follow(*host, records::User{}, model, id, *f, std::stop_token{});
  }
  void device(const std::string& action, const std::string& user_code, const std::string& user = "") {
    json body{{"action", action}, {"user_code", user_code}};
    if (!user.empty()) body["user"] = user;
    stack.idp("/_control/device", body.dump());
  }
  json server(const char* model, std::int64_t id) {
    auto lock = host->db().lock();
    auto e = env();
    return records::read(e, model, id);
  }
};

}  // namespace

TEST_CASE("Connect with a code: the code and link at once, then connected once someone approves it elsewhere",
          "[outlook][device]") {
  DeviceHost t;
  const std::string mailbox = unique_mailbox("device");
  const auto id = t.outlook_server("Headless", mailbox);
  std::int64_t mail_id = 0;
  {
    auto lock = t.host->db().lock();
    mail_id = t.send(mailbox, unique_mailbox("device-rcpt"), "waits for the sign-in");
    CHECK(t.process().sent == 0);  // not connected: the mail waits
  }
  const json first = t.start(mail::kOutgoingServer, id);
  REQUIRE(first.value("user_code", "").size() == 9);
  CHECK(has(first.value("verification_uri", ""), "/devicelogin"));
  CHECK(first.value("expires_in", 0) == 900);
  CHECK(has(first.value("message", ""), first.value("user_code", "")));
  CHECK(first["continue"]["action"] == "outlook_device_poll");
  CHECK(first["continue"]["after"] == 1);
  // Nothing is connected until someone signs in; the code itself is kept encrypted.
  CHECK(t.server(mail::kOutgoingServer, id)["microsoft_outlook_token_status"] == "missing");
  t.device("approve", first["user_code"], mailbox);
  const json outcome = t.follow(mail::kOutgoingServer, id, first);
  CHECK(outcome.value("status", "") == "valid");
  CHECK_FALSE(app::is_failure(outcome));
  const json rec = t.server(mail::kOutgoingServer, id);
  CHECK(rec["microsoft_outlook_token_status"] == "valid");
  CHECK_FALSE(rec.value("microsoft_outlook_refresh_token", "").empty());
  CHECK(rec["microsoft_outlook_device_code"].is_null());  // used up
  // The mail that waited goes out with the new token, through Postfix and Dovecot's XOAUTH2.
  auto lock = t.host->db().lock();
  CHECK(t.process().sent == 1);
  CHECK(t.mail(mail_id)["state"] == "sent");
}

TEST_CASE("Connect with a code: declined, expired and polled too fast, each told in the admin's terms", "[outlook][device]") {
  DeviceHost t;
  const auto id = t.outlook_server("Headless", unique_mailbox("device-no"));
  SECTION("declined at Microsoft") {
    const json first = t.start(mail::kOutgoingServer, id);
    t.device("decline", first["user_code"]);
    const json outcome = t.follow(mail::kOutgoingServer, id, first);
    CHECK(app::is_failure(outcome));
    CHECK(outcome["status"] == "declined");
    CHECK(has(outcome.value("reason", ""), "was declined at Microsoft. Click Connect with a code to try again."));
  }
  SECTION("the code expired before anyone signed in") {
    const json first = t.start(mail::kOutgoingServer, id);
    t.device("expire", first["user_code"]);
    const json outcome = t.follow(mail::kOutgoingServer, id, first);
    CHECK(outcome["status"] == "expired");
    CHECK(has(outcome.value("reason", ""), "expired before anyone signed in with it"));
  }
  SECTION("polled sooner than Microsoft asked: slower from then on (RFC 8628 slow_down)") {
    t.start(mail::kOutgoingServer, id);
    const auto poll = [&] {
      return app::invoke_action(*t.host, records::User{}, mail::kOutgoingServer, id, "outlook_device_poll");
    };
    CHECK(poll() == json{{"pending", true}});
    CHECK(poll() == json{{"pending", true}, {"after", 6}});  // at once again: 1 s + Microsoft's 5 s step
    CHECK(t.server(mail::kOutgoingServer, id)["microsoft_outlook_device_interval"] == 6);
  }
  SECTION("the app does not allow public client flows (AADSTS7000218)") {
    // An app of its own: the suite's other tests keep theirs.
    t.stack.idp(
        "/_control/register_app",
        json{{"client_id", "juniper-private-app"}, {"client_secret", "private-secret"}, {"public_client_flows", false}}.dump());
    {
      auto lock = t.host->db().lock();
      auto e = t.env();
      records::setting_set(e, "microsoft_outlook_client_identifier", "juniper-private-app");
      records::setting_set(e, "microsoft_outlook_client_secret", "private-secret");
    }
    const json first = t.start(mail::kOutgoingServer, id);
    t.device("approve", first["user_code"], "someone@example.com");
    const json outcome = t.follow(mail::kOutgoingServer, id, first);
    CHECK(app::is_failure(outcome));
    CHECK(has(outcome.value("reason", ""), "Allow public client flows to Yes"));
  }
  const json rec = t.server(mail::kOutgoingServer, id);
  CHECK(rec["microsoft_outlook_token_status"] == "missing");  // nothing connected by any of these
}

TEST_CASE("Connect with a code from the command line: one JSON line at once, the outcome when it comes",
          "[outlook][device][cli]") {
  DeviceHost t;
  const std::string mailbox = unique_mailbox("device-cli");
  const auto id = t.outlook_server("Headless", mailbox);
  const auto run = [&](const std::string& then) {
    std::string command = std::string(JUNIPER_CLI) + " --data " + t.dir.string();
    if (const char* url = std::getenv("JUNIPER_TEST_DB"); url != nullptr && *url != '\0')
      command += " --db '" + std::string(url) + "'";
    command += " --modules-path " + std::string(JUNIPER_MODULES_DIR) + " record action ir.mail_server " + std::to_string(id) +
               " outlook_connect_device --json 2>&1";
    FILE* p = popen(command.c_str(), "r");
    REQUIRE(p != nullptr);
    std::vector<std::string> lines;
    char buf[8192];
    while (std::fgets(buf, sizeof buf, p) != nullptr) {
      lines.emplace_back(buf);
      // The first line arrives while the command still waits: the code can be entered now.
      if (lines.size() == 1) t.device(then, json::parse(lines[0]).at("user_code"), mailbox);
    }
    const int status = pclose(p);
    REQUIRE(WIFEXITED(status));
    REQUIRE(lines.size() >= 2);
    const json first = json::parse(lines[0]);
    CHECK(first.contains("verification_uri"));
    CHECK(first.contains("expires_in"));
    CHECK(first.contains("message"));
    CHECK_FALSE(first.contains("continue"));  // the host's own key stays inside
    return std::make_pair(WEXITSTATUS(status), json::parse(lines[1]));
  };
  const auto [declined_exit, declined] = run("decline");
  CHECK(declined_exit == 1);
  CHECK(declined["status"] == "declined");
  CHECK(has(declined.value("reason", ""), "declined"));
  const auto [expired_exit, expired] = run("expire");
  CHECK(expired_exit == 1);
  CHECK(expired["status"] == "expired");
  CHECK(has(expired.value("reason", ""), "expired before anyone signed in"));
  const auto [valid_exit, valid] = run("approve");
  CHECK(valid_exit == 0);
  CHECK(valid ==
        json{{"status", "valid"}, {"message", "Outlook Token Valid: Outlook server \u201cHeadless\u201d is connected."}});
  CHECK(t.server(mail::kOutgoingServer, id)["microsoft_outlook_token_status"] == "valid");
}

TEST_CASE("Connect with a code from the web pages: the code on the record, which follows the outcome", "[outlook][device][web]") {
  DeviceHost t;
  const std::string mailbox = unique_mailbox("device-web");
  const std::int64_t id = [&] {
    auto lock = t.host->db().lock();
    auto e = t.env();
    return records::create(e, mail::kIncomingServer, {{"name", "Headless inbox"}, {"server_type", "outlook"}, {"user", mailbox}});
  }();
  const std::string record = "/web/record/fetchmail.server/" + std::to_string(id);
  const auto page = t.browser->get(record);
  REQUIRE(has(page.body, "Connect with a code"));
  CHECK_FALSE(has(page.body, "outlook_device_poll"));  // a follow-up, not a button
  const auto clicked =
      t.browser->post(record + "/action/outlook_connect_device", "csrf_token=" + juniper::test::csrf_from(page.body));
  REQUIRE(clicked.status == 303);
  const auto waiting = t.browser->get(clicked.location);
  REQUIRE(has(waiting.body, "/devicelogin"));
  CHECK(has(waiting.body, "This page follows the outcome."));
  const auto codes = json::parse(t.stack.idp("/_control/device", ""));
  std::string user_code;
  for (const auto& c : codes.at("device_codes")) {
    if (c.value("status", "") == "pending") user_code = c.value("user_code", "");
  }
  REQUIRE(has(waiting.body, user_code));
  t.device("approve", user_code, mailbox);
  std::string shown;
  CHECK(eventually(
      [&] {
        shown = t.browser->get(record).body;
        return !has(shown, "This page follows the outcome.");
      },
      15000));
  CHECK(has(shown, "Outlook Token Valid: Outlook server \u201cHeadless inbox\u201d is connected."));
  CHECK(t.server(mail::kIncomingServer, id)["microsoft_outlook_token_status"] == "valid");
  CHECK_FALSE(has(t.browser->get(record).body, "is connected."));  // the outcome is shown once
}

TEST_CASE("a redirect URI mismatch names the exact address to register", "[outlook][redirect]") {
  const std::string said =
      outlook::explain("invalid_request", "AADSTS50011: The redirect URI 'x' specified in the request does not match",
                       "https://erp.example.com/microsoft_outlook/confirm");
  CHECK(has(said, "register https://erp.example.com/microsoft_outlook/confirm as a Web redirect URI in Azure"));
  CHECK(has(said, "(AADSTS50011)"));
  CHECK(has(outlook::explain("invalid_grant", "AADSTS7000218: The request body must contain client_assertion or client_secret"),
            "Allow public client flows to Yes"));
}
