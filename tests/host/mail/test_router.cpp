#include "mail/address.hpp"
#include "mail/router.hpp"

#include <gmime/gmime.h>
#include <catch2/catch.hpp>

#include <memory>

using juniper::mail::AddressError;
using juniper::mail::OutgoingServer;
using juniper::mail::Router;
using juniper::mail::RoutingDefaults;
namespace mail = juniper::mail;

namespace {

OutgoingServer server(std::int64_t id, std::string filter, int sequence = 10, bool active = true) {
  return {id, "server " + std::to_string(id), std::move(filter), sequence, active};
}

RoutingDefaults notifications_at_example() { return {mail::notification_address("notifications", "example.com"), "", ""}; }

std::string decode_phrase(const std::string& phrase) {
  g_mime_init();
  std::unique_ptr<char, decltype(&g_free)> decoded(g_mime_utils_header_decode_phrase(nullptr, phrase.c_str()), &g_free);
  return decoded ? decoded.get() : "";
}

}  // namespace

TEST_CASE("default addresses", "[router]") {
  CHECK(mail::notification_address("notifications", "example.com") == "notifications@example.com");
  CHECK(mail::notification_address("noreply@corp.io", "example.com") == "noreply@corp.io");
  CHECK(mail::notification_address("noreply@corp.io", "") == "noreply@corp.io");
  CHECK(mail::notification_address("notifications", "").empty());
  CHECK(mail::notification_address("", "example.com").empty());
  CHECK(mail::bounce_address("bounce", "example.com") == "bounce@example.com");
  CHECK(mail::bounce_address("", "example.com").empty());
  CHECK(mail::bounce_address("bounce", "").empty());
}

TEST_CASE("brief example 1: one notifications server", "[router][example]") {
  Router router({{1, "Notifications", "notifications@example.com", 10, true}}, notifications_at_example());
  const auto d = router.route("\"John Doe\" <john@example.com>");
  CHECK(d.server_id == 1);
  CHECK(d.server_name == "Notifications");
  CHECK(d.from_filter == "notifications@example.com");
  CHECK(d.from_header == "\"John Doe\" <notifications@example.com>");
  CHECK(d.envelope_from == "notifications@example.com");
  CHECK(d.warning.empty());
}

TEST_CASE("brief example 2: personal servers plus notifications", "[router][example]") {
  Router router({{1, "John", "john@example.com", 10, true},
                 {2, "Jane", "jane@example.com", 10, true},
                 {3, "Notifications", "notifications@example.com", 10, true}},
                notifications_at_example());

  const auto john = router.route("\"John Doe\" <john@example.com>");
  CHECK(john.server_id == 1);
  CHECK(john.from_header == "\"John Doe\" <john@example.com>");
  CHECK(john.envelope_from == "john@example.com");

  const auto jane = router.route("jane@example.com");
  CHECK(jane.server_id == 2);
  CHECK(jane.from_header == "jane@example.com");

  const auto bob = router.route("bob@example.com");
  CHECK(bob.server_id == 3);
  CHECK(bob.from_header == "\"bob\" <notifications@example.com>");
  CHECK(bob.envelope_from == "notifications@example.com");
  CHECK(bob.warning.empty());

  const auto other = router.route("\"Bob\" <bob@other.org>");
  CHECK(other.server_id == 3);
  CHECK(other.from_header == "\"Bob\" <notifications@example.com>");
  CHECK(other.envelope_from == "notifications@example.com");
}

TEST_CASE("step 5a: an exact address beats a domain even with a worse sequence", "[router]") {
  Router router({server(1, "example.com", 1), server(2, "john@example.com", 50)}, notifications_at_example());
  CHECK(router.route("john@example.com").server_id == 2);
  CHECK(router.route("jane@example.com").server_id == 1);
}

TEST_CASE("step 5b: the sender's own domain beats the notification address", "[router]") {
  Router router({server(1, "notifications@example.com", 1), server(2, "other.org", 20)}, notifications_at_example());
  const auto d = router.route("\"Bob\" <bob@other.org>");
  CHECK(d.server_id == 2);
  CHECK(d.from_header == "\"Bob\" <bob@other.org>");
  CHECK(d.envelope_from == "bob@other.org");
}

TEST_CASE("step 7: the notification address exactly, then its domain", "[router]") {
  const std::vector<OutgoingServer> both{server(1, "example.com", 1), server(2, "notifications@example.com", 5)};
  CHECK(Router(both, notifications_at_example()).route("x@unknown.net").server_id == 2);

  const auto d = Router({server(1, "example.com", 1)}, notifications_at_example()).route("x@unknown.net");
  CHECK(d.server_id == 1);
  CHECK(d.from_header == "\"x\" <notifications@example.com>");
  CHECK(d.envelope_from == "notifications@example.com");
  CHECK(d.warning.empty());
}

TEST_CASE("step 8: the first server without a filter", "[router]") {
  RoutingDefaults defaults = notifications_at_example();
  defaults.bounce_address = mail::bounce_address("bounce", "example.com");
  Router router({server(1, "foo.com", 1), server(2, "", 5), server(3, "", 3)}, defaults);
  const auto d = router.route("\"Bob\" <bob@unknown.net>");
  CHECK(d.server_id == 3);
  CHECK(d.from_filter.empty());
  CHECK(d.from_header == "\"Bob\" <notifications@example.com>");
  // An empty filter accepts the bounce address, so it becomes the envelope.
  CHECK(d.envelope_from == "bounce@example.com");
  CHECK(d.warning.empty());
}

TEST_CASE("step 9: the first server, with a warning", "[router]") {
  Router router({server(1, "foo.com", 5), server(2, "bar.com", 2)}, notifications_at_example());
  const auto d = router.route("\"Bob\" <bob@unknown.net>");
  CHECK(d.server_id == 2);
  CHECK(d.from_header == "\"Bob\" <notifications@example.com>");
  CHECK(d.envelope_from == "notifications@example.com");
  CHECK(d.warning == "No mail server matches the from_filter, using notifications@example.com as fallback");

  SECTION("without a notification address the sender is kept") {
    Router bare({server(1, "foo.com")}, {});
    const auto k = bare.route("\"Bob\" <bob@unknown.net>");
    CHECK(k.server_id == 1);
    CHECK(k.from_header == "\"Bob\" <bob@unknown.net>");
    CHECK(k.envelope_from == "bob@unknown.net");
    CHECK(k.warning.find("bob@unknown.net") != std::string::npos);
  }
}

TEST_CASE("step 10: no server, the default from_filter decides", "[router]") {
  RoutingDefaults defaults = notifications_at_example();
  defaults.default_from_filter = "example.com";
  Router router({}, defaults);

  const auto own = router.route("\"John\" <john@example.com>");
  CHECK_FALSE(own.server_id);
  CHECK(own.server_name.empty());
  CHECK(own.from_filter == "example.com");
  CHECK(own.from_header == "\"John\" <john@example.com>");
  CHECK(own.envelope_from == "john@example.com");
  CHECK(own.warning.empty());

  const auto via_notif = router.route("\"Bob\" <bob@other.org>");
  CHECK_FALSE(via_notif.server_id);
  CHECK(via_notif.from_header == "\"Bob\" <notifications@example.com>");
  CHECK(via_notif.envelope_from == "notifications@example.com");
  CHECK(via_notif.warning.empty());

  defaults.default_from_filter = "corp.io";
  const auto neither = Router({}, defaults).route("\"Bob\" <bob@other.org>");
  CHECK_FALSE(neither.server_id);
  CHECK(neither.from_header == "\"Bob\" <notifications@example.com>");
  CHECK_FALSE(neither.warning.empty());

  const auto no_notif = Router({}, {"", "", "corp.io"}).route("\"Bob\" <bob@other.org>");
  CHECK(no_notif.from_header == "\"Bob\" <bob@other.org>");
  CHECK(no_notif.warning.find("bob@other.org") != std::string::npos);

  const auto open = Router({}, {"", "bounce@example.com", ""}).route("bob@other.org");
  CHECK(open.from_header == "bob@other.org");
  CHECK(open.envelope_from == "bounce@example.com");
  CHECK(open.warning.empty());
}

TEST_CASE("comma lists with spaces and empty parts", "[router]") {
  Router router({server(1, " a@x.com , ,Example.org ,  ")}, {});
  CHECK(router.route("A@X.COM").server_id == 1);
  CHECK(router.route("z@EXAMPLE.ORG").server_id == 1);
  CHECK(router.route("z@example.org").warning.empty());
  CHECK_FALSE(router.route("z@x.com").warning.empty());
}

TEST_CASE("case: upper-case domain and ASCII local part, non-ASCII local part kept", "[router]") {
  // The servers accept the bounce address: a non-ASCII local part cannot be an envelope.
  Router router({server(1, "john@example.com"), server(2, "élodie@example.com, bounce@example.com"),
                 server(3, "Élodie@example.com, bounce@example.com", 20)},
                {"notifications@example.com", "bounce@example.com", ""});
  CHECK(router.route("john@EXAMPLE.COM").server_id == 1);
  CHECK(router.route("JOHN@example.com").server_id == 1);
  CHECK(router.route("élodie@EXAMPLE.com").server_id == 2);
  CHECK(router.route("Élodie@example.com").server_id == 3);
}

TEST_CASE("inactive servers are skipped", "[router]") {
  Router router({server(1, "john@example.com", 1, false), server(2, "john@example.com", 9)}, {});
  CHECK(router.route("john@example.com").server_id == 2);
  CHECK(router.active_server_count() == 1);

  Router only_inactive({server(1, "john@example.com", 1, false)}, {"", "", "example.com"});
  const auto d = only_inactive.route("john@example.com");
  CHECK_FALSE(d.server_id);
  CHECK(d.from_filter == "example.com");
}

TEST_CASE("sequence ties are broken by id", "[router]") {
  Router router({server(7, "example.com"), server(3, "example.com"), server(5, "example.com", 9)}, {});
  CHECK(router.route("a@example.com").server_id == 5);
  Router tied({server(7, "example.com"), server(3, "example.com")}, {});
  CHECK(tied.route("a@example.com").server_id == 3);
  Router fallback({server(7, "foo.com"), server(3, "bar.com")}, {});
  CHECK(fallback.route("a@example.com").server_id == 3);
}

TEST_CASE("direct matches keep the sender's display name verbatim", "[router]") {
  Router router({server(1, "example.com")}, notifications_at_example());
  CHECK(router.route("\"John Q. Doe\" <john@example.com>").from_header == "\"John Q. Doe\" <john@example.com>");
  CHECK(router.route("John Doe <john@example.com>").from_header == "John Doe <john@example.com>");
}

TEST_CASE("encapsulation of a foreign sender", "[router]") {
  Router router({server(1, "notifications@example.com")}, notifications_at_example());
  CHECK(router.route("\"Admin\" <admin@gmail.com>").from_header == "\"Admin\" <notifications@example.com>");
  CHECK(router.route("admin@gmail.com").from_header == "\"admin\" <notifications@example.com>");
  CHECK(router.route("\"O'Neil, \\\"Ed\\\"\" <ed@gmail.com>").from_header ==
        "\"O'Neil, \\\"Ed\\\"\" <notifications@example.com>");
  // A sender that is the notification address (any case) is not encapsulated.
  CHECK(router.route("Notifications@EXAMPLE.com").from_header == "Notifications@EXAMPLE.com");
}

TEST_CASE("an unnormalisable sender goes to the notification address", "[router]") {
  Router router({server(1, "a@example.com"), server(2, "notifications@example.com")}, notifications_at_example());
  const auto d = router.route("a@example.com, b@example.com");
  CHECK(d.server_id == 2);
  CHECK(d.from_header == "\"a\" <notifications@example.com>");
}

TEST_CASE("an empty sender is sent as the notification address", "[router]") {
  Router router({server(1, "example.com")}, notifications_at_example());
  const auto d = router.route("");
  CHECK(d.server_id == 1);
  CHECK(d.from_header == "notifications@example.com");
  CHECK(d.envelope_from == "notifications@example.com");
  CHECK_THROWS_AS(Router({server(1, "example.com")}, {}).route(""), AddressError);
}

TEST_CASE("envelope: the bounce address when the chosen filter accepts it", "[router]") {
  RoutingDefaults defaults = notifications_at_example();
  defaults.bounce_address = "bounce@example.com";

  const auto domain = Router({server(1, "example.com")}, defaults).route("john@example.com");
  CHECK(domain.envelope_from == "bounce@example.com");
  CHECK(domain.from_header == "john@example.com");

  const auto personal = Router({server(1, "john@example.com")}, defaults).route("\"J\" <john@example.com>");
  CHECK(personal.envelope_from == "john@example.com");

  const auto open = Router({server(1, "")}, defaults).route("bob@other.org");
  CHECK(open.envelope_from == "bounce@example.com");
  CHECK(open.from_header == "\"bob\" <notifications@example.com>");
}

TEST_CASE("envelope: IDNA domains are punycoded", "[router]") {
  Router router({server(1, "éxample.com")}, {});
  const auto d = router.route("jo@ÉXAMPLE.com");
  CHECK(d.server_id == 1);
  CHECK(d.envelope_from == "jo@xn--xample-9ua.com");
  CHECK(d.from_header == "jo@xn--xample-9ua.com");

  const auto notif = Router({server(1, "bücher.example")}, {"notifications@bücher.example", "", ""}).route("bob@other.org");
  CHECK(notif.server_id == 1);
  CHECK(notif.from_header == "\"bob\" <notifications@xn--bcher-kva.example>");
  CHECK(notif.envelope_from == "notifications@xn--bcher-kva.example");
}

TEST_CASE("envelope: a non-ASCII local part cannot be sent", "[router]") {
  Router router({server(1, "example.com")}, {});
  CHECK_THROWS_AS(router.route("élodie@example.com"), AddressError);
}

TEST_CASE("non-ASCII display names are RFC 2047-encoded", "[router]") {
  Router router({server(1, "example.com")}, notifications_at_example());
  const std::string direct = router.route("\"Jöhn Dœ\" <john@example.com>").from_header;
  REQUIRE(direct.ends_with(" <john@example.com>"));
  CHECK(mail::detail::is_printable_ascii(direct));
  CHECK(decode_phrase(direct.substr(0, direct.find(" <"))) == "Jöhn Dœ");

  const std::string wrapped = router.route("\"Zoë\" <zoe@other.org>").from_header;
  REQUIRE(wrapped.ends_with(" <notifications@example.com>"));
  CHECK(mail::detail::is_printable_ascii(wrapped));
  CHECK(decode_phrase(wrapped.substr(0, wrapped.find(" <"))) == "Zoë");
}

TEST_CASE("CR, LF and NUL are refused", "[router]") {
  Router router({server(1, "")}, notifications_at_example());
  CHECK_THROWS_AS(router.route("a@example.com\r\nBcc: victim@x.com"), AddressError);
  CHECK_THROWS_AS(router.route("\"A\nB\" <a@example.com>"), AddressError);
  CHECK_THROWS_AS(router.route(std::string_view("a@example.com\0b", 15)), AddressError);
  CHECK_THROWS_AS(Router({}, {"n@example.com\r\nX: y", "", ""}), AddressError);
}

TEST_CASE("the indexes pick the same server as the rules among many", "[router]") {
  std::vector<OutgoingServer> servers;
  for (int i = 0; i < 5000; ++i)
    servers.push_back(server(i + 1, "user" + std::to_string(i) + "@corp" + std::to_string(i % 50) + ".com", (i * 7) % 13));
  servers.push_back(server(9001, "corp7.com", 12));
  servers.push_back(server(9002, "corp7.com, corp8.com", 3));
  Router router(servers, {});
  CHECK(router.active_server_count() == 5002);
  CHECK(router.route("USER1234@corp34.com").server_id == 1235);
  CHECK(router.route("nobody@corp7.com").server_id == 9002);
  CHECK(router.route("nobody@corp8.com").server_id == 9002);
  // Fallback: lowest (sequence, id), i.e. server 1 (sequence 0).
  const auto miss = router.route("nobody@nowhere.net");
  CHECK(miss.server_id == 1);
  CHECK_FALSE(miss.warning.empty());
}

TEST_CASE("a filter that matches nothing is only used as the last resort", "[router]") {
  Router router({server(1, " , ", 1), server(2, "", 5)}, {});
  CHECK(router.route("bob@other.org").server_id == 2);
  Router last_resort({server(1, " , ", 1), server(2, "foo.com", 5)}, {});
  const auto d = last_resort.route("bob@other.org");
  CHECK(d.server_id == 1);
  CHECK_FALSE(d.warning.empty());
}

TEST_CASE("a copied router routes like the original", "[router]") {
  const Router original({server(1, "john@example.com"), server(2, "example.com", 20)}, notifications_at_example());
  const Router copy = original;
  CHECK(copy.route("john@example.com").server_id == 1);
  CHECK(copy.route("x@example.com").server_id == 2);
  CHECK(copy.route("x@other.org").from_header == original.route("x@other.org").from_header);
}
