// What the provider modules' suites share: a host with one OAuth mail module installed and set up
// (app credentials, endpoint, web.base.url), a logged-in browser, and the provider-neutral steps:
// the Connect action's URL, the consent round trip back to the module's confirm route, reading
// and writing a server under its own database lease.
#pragma once

#include "mail_fixture.hpp"
#include "test_site.hpp"

#include "db/database.hpp"

#include <catch2/catch.hpp>

#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace juniper::test {

inline constexpr const char* kProviderBaseUrl = "http://127.0.0.1:8069";  // web.base.url

struct Provider {
  std::string module;                    // installed before the site builds its routes
  std::string connect_action;            // the server action that returns the consent URL
  std::string consent_query;             // appended to that URL for the simulated consent screen
  std::function<void(MailHost&)> setup;  // credentials and endpoint, after the install
};

struct ProviderHost : MailHost {
  // Members initialise in order: the module is installed before the site builds its routes.
  explicit ProviderHost(Provider p) : provider(std::move(p)), configured(configure()), site(*host), browser(site.browser.get()) {}

  Provider provider;
  bool configured;
  TestSite site;
  WebClient* browser;

  bool configure() {
    auto lock = host->db().lock();
    host->modules().install({provider.module});
    custom_servers(true);
    param("web.base.url", kProviderBaseUrl);
    provider.setup(*this);
    return true;
  }

  std::string connect_url(const char* model, std::int64_t id) {
    auto lock = host->db().lock();
    auto e = env();
    const auto* action = e.registry.action(model, provider.connect_action);
    REQUIRE(action != nullptr);
    REQUIRE(action->visible(e, records::read(e, model, id)));
    Transaction tr(host->db().session());
    const std::string url = action->invoke(e, id)["url"];
    tr.commit();
    return url;
  }

  // The browser goes to the provider (consent given) and comes back to the module's confirm route.
  Reply consent_and_confirm(const std::string& authorize_url) {
    const auto away = browser->get(authorize_url + provider.consent_query);
    REQUIRE(away.status == 302);
    REQUIRE(away.location.starts_with(std::string(kProviderBaseUrl) + "/" + provider.module + "/confirm?"));
    return browser->get(away.location.substr(std::string(kProviderBaseUrl).size()));
  }

  nlohmann::json server(std::int64_t id) {
    auto lock = host->db().lock();
    auto e = env();
    return records::read(e, mail::kOutgoingServer, id);
  }

  // Changes an outgoing server's fields, under its own database lease.
  void write_server(std::int64_t id, const nlohmann::json& values) {
    auto lock = host->db().lock();
    MailHost::write_server(id, values);
  }

  // An incoming server of `server_type` reading `mailbox`: created with the provider's address
  // (`default_host`:993, checked), pointed at the stack's IMAPS and connected through the consent
  // round trip, whose URL asks for `scope`.
  std::int64_t connected_incoming(const std::string& server_type, const std::string& mailbox, const std::string& default_host,
                                  const std::string& scope) {
    std::int64_t id = 0;
    {
      auto lock = host->db().lock();
      auto e = env();
      id = records::create(e, mail::kIncomingServer, {{"name", "Inbox"}, {"server_type", server_type}, {"user", mailbox}});
      const auto rec = records::read(e, mail::kIncomingServer, id);
      CHECK(rec["server"] == default_host);
      CHECK(rec["port"] == 993);
      records::write(e, mail::kIncomingServer, id, {{"server", "127.0.0.1"}, {"port", stack["IMAPS_PORT"]}});
    }
    const std::string url = connect_url(mail::kIncomingServer, id);
    CHECK(url.find(scope) != std::string::npos);
    REQUIRE(consent_and_confirm(url).status == 303);
    return id;
  }

  // One message delivered to `mailbox`, then Test & Confirm and one fetch of server `id`: the
  // subjects of the messages stored.
  std::vector<std::string> confirm_and_fetch(std::int64_t id, const std::string& mailbox, const std::string& subject) {
    stack.deliver(mailbox, "From: a@other.org\r\nTo: " + mailbox + "\r\nSubject: " + subject + "\r\nMessage-ID: <" +
                               subject.substr(0, 1) + "1@x>\r\n\r\nBody\r\n");
    auto lock = host->db().lock();
    auto e = env();
    e.registry.action(mail::kIncomingServer, "button_confirm_login")->invoke(e, id);
    CHECK(e.registry.action(mail::kIncomingServer, "fetch_mail")->invoke(e, id)["stored"] == 1);
    std::vector<std::string> subjects;
    for (const auto& m : records::list(e, mail::kMessage)) subjects.push_back(m["subject"]);
    return subjects;
  }
};

}  // namespace juniper::test
