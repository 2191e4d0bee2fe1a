#include "mail/from_filter.hpp"

#include <catch2/catch.hpp>

namespace mail = juniper::mail;

TEST_CASE("parse_from_filter splits, trims and normalises", "[from_filter]") {
  const mail::FromFilter filter = mail::parse_from_filter("  Notif@Example.COM , , Example.ORG,,\"N\" <n@X.io>  ");
  CHECK_FALSE(filter.match_all);
  CHECK(filter.addresses == std::vector<std::string>{"notif@example.com", "n@x.io"});
  CHECK(filter.domains == std::vector<std::string>{"example.org"});

  CHECK(mail::parse_from_filter("").match_all);
  CHECK(mail::parse_from_filter("   ").match_all);
  const mail::FromFilter separators_only = mail::parse_from_filter(" , ");
  CHECK_FALSE(separators_only.match_all);
  CHECK(separators_only.addresses.empty());
  CHECK(separators_only.domains.empty());
}

TEST_CASE("an empty filter matches every sender, even an unusable one", "[from_filter]") {
  CHECK(mail::match_from_filter("john@example.com", ""));
  CHECK(mail::match_from_filter("not an address", ""));
  CHECK(mail::match_from_filter("a@b.com, c@d.com", ""));
}

TEST_CASE("address parts match the normalised sender exactly", "[from_filter]") {
  CHECK(mail::match_from_filter("\"John\" <JOHN@Example.com>", "john@example.com"));
  CHECK(mail::match_from_filter("john@example.com", "JOHN@EXAMPLE.COM"));
  CHECK_FALSE(mail::match_from_filter("jane@example.com", "john@example.com"));
  // The case of a non-ASCII local part is significant.
  CHECK(mail::match_from_filter("Élodie@EXAMPLE.com", "Élodie@example.com"));
  CHECK_FALSE(mail::match_from_filter("élodie@example.com", "Élodie@example.com"));
}

TEST_CASE("domain parts match the sender's domain exactly", "[from_filter]") {
  CHECK(mail::match_from_filter("bob@EXAMPLE.com", "example.com"));
  CHECK(mail::match_from_filter("bob@other.org", "example.com, other.org"));
  CHECK_FALSE(mail::match_from_filter("bob@mail.example.com", "example.com"));
  CHECK_FALSE(mail::match_from_filter("bob@example.com", "mail.example.com"));
  // No IDNA conversion on either side.
  CHECK_FALSE(mail::match_from_filter("bob@éxample.com", "xn--xample-9ua.com"));
  CHECK(mail::match_from_filter("bob@ÉXAMPLE.com", "éxample.com"));
}

TEST_CASE("an unnormalisable sender matches only the empty filter", "[from_filter]") {
  CHECK_FALSE(mail::match_from_filter("a@example.com, b@example.com", "example.com"));
  CHECK_FALSE(mail::match_from_filter("", "example.com"));
  CHECK_FALSE(mail::match_from_filter("garbage", "garbage"));
  CHECK_FALSE(mail::matches(mail::parse_from_filter("example.com"), std::nullopt));
  CHECK(mail::matches(mail::parse_from_filter(""), std::nullopt));
}

TEST_CASE("a filter of separators only matches nothing", "[from_filter]") {
  CHECK_FALSE(mail::match_from_filter("john@example.com", " , ,"));
}
