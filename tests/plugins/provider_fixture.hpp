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
};

}  // namespace juniper::test
