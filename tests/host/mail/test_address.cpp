#include "mail/address.hpp"

#include <gmime/gmime.h>
#include <catch2/catch.hpp>

#include <memory>

using juniper::mail::AddressError;
using juniper::mail::Mailbox;
namespace mail = juniper::mail;

namespace {

// Decodes an RFC 2047 phrase so the tests check meaning, not GMime's choice
// between B and Q encoding.
std::string decode_phrase(const std::string& phrase) {
  g_mime_init();
  std::unique_ptr<char, decltype(&g_free)> decoded(g_mime_utils_header_decode_phrase(nullptr, phrase.c_str()), &g_free);
  return decoded ? decoded.get() : "";
}

}  // namespace

TEST_CASE("email_split keeps only addresses with an @", "[address]") {
  CHECK(mail::email_split("john@example.com") == std::vector<Mailbox>{{"", "john@example.com"}});
  CHECK(mail::email_split("\"John Doe\" <john@example.com>") == std::vector<Mailbox>{{"John Doe", "john@example.com"}});
  CHECK(mail::email_split("a@b.com, \"C\" <c@d.com>") == std::vector<Mailbox>{{"", "a@b.com"}, {"C", "c@d.com"}});
  CHECK(mail::email_split("foo, a@b.com") == std::vector<Mailbox>{{"", "a@b.com"}});
  CHECK(mail::email_split("").empty());
  CHECK(mail::email_split("not an address").empty());
  CHECK(mail::email_split("<>").empty());
}

TEST_CASE("email_split recovers an unquoted name before a bare address", "[address]") {
  CHECK(mail::email_split("John Doe john@example.com") == std::vector<Mailbox>{{"John Doe", "john@example.com"}});
}

TEST_CASE("email_normalize is strict and lower-cases like Odoo 16+", "[address]") {
  CHECK(mail::email_normalize("\"Name\" <NaMe@DoMaIn.CoM>") == "name@domain.com");
  CHECK(mail::email_normalize("\"a@b.com\" <c@d.com>") == "c@d.com");
  CHECK(mail::email_normalize("JOHN@example.com") == "john@example.com");
  // A non-ASCII local part keeps its case; the domain is still lowered.
  CHECK(mail::email_normalize("ÉLODIE@ÉXAMPLE.COM") == "ÉLODIE@éxample.com");
  CHECK_FALSE(mail::email_normalize("a@b.com, c@d.com"));
  CHECK_FALSE(mail::email_normalize(""));
  CHECK_FALSE(mail::email_normalize("foo"));
}

TEST_CASE("domain helpers", "[address]") {
  CHECK(mail::email_domain_extract("\"X\" <x@Example.COM>") == "example.com");
  CHECK_FALSE(mail::email_domain_extract("x@a.com, y@b.com"));
  CHECK(mail::email_domain_normalize("ExAmple.COM") == "example.com");
  CHECK(mail::email_domain_normalize("MAIL.ÉXAMPLE.COM") == "mail.éxample.com");
  CHECK_FALSE(mail::email_domain_normalize(""));
  CHECK_FALSE(mail::email_domain_normalize("a@example.com"));
  // No IDNA conversion: the Unicode and ASCII domains stay different.
  CHECK(mail::email_domain_normalize("mail.éxample.com") != mail::email_domain_normalize("mail.example.com"));
}

TEST_CASE("formataddr quotes, escapes and encodes", "[address]") {
  CHECK(mail::formataddr("", "john@example.com") == "john@example.com");
  CHECK(mail::formataddr("John Doe", "john@example.com") == "\"John Doe\" <john@example.com>");
  CHECK(mail::formataddr("A \"q\" \\b", "a@b.c") == "\"A \\\"q\\\" \\\\b\" <a@b.c>");
  CHECK(mail::formataddr("", "jo@éxample.com") == "jo@xn--xample-9ua.com");

  const std::string encoded = mail::formataddr("Jöhn Dœ", "john@example.com");
  REQUIRE(encoded.size() > 19);
  CHECK(encoded.rfind("=?", 0) == 0);
  CHECK(mail::detail::is_printable_ascii(encoded));
  const std::string suffix = " <john@example.com>";
  REQUIRE(encoded.ends_with(suffix));
  CHECK(decode_phrase(encoded.substr(0, encoded.size() - suffix.size())) == "Jöhn Dœ");

  CHECK_THROWS_AS(mail::formataddr("Evil\r\nBcc: x@y.z", "a@b.c"), AddressError);
  CHECK_THROWS_AS(mail::formataddr("", "a@☃.example"), AddressError);
}

TEST_CASE("encapsulate_email keeps the name, or the old local part", "[address]") {
  CHECK(mail::encapsulate_email("\"Admin\" <admin@gmail.com>", "notifications@example.com") ==
        "\"Admin\" <notifications@example.com>");
  CHECK(mail::encapsulate_email("admin@gmail.com", "notifications@example.com") == "\"admin\" <notifications@example.com>");
  CHECK(mail::encapsulate_email("John Doe john@gmail.com", "n@example.com") == "\"John Doe\" <n@example.com>");
  CHECK(mail::encapsulate_email("<>", "n@example.com") == "<>");
}

TEST_CASE("envelope addresses are ASCII with a punycoded domain", "[address]") {
  CHECK(mail::envelope_address("\"Jo\" <jo@éxample.com>") == "jo@xn--xample-9ua.com");
  CHECK(mail::envelope_address("jo@example.com") == "jo@example.com");
  CHECK(mail::envelope_address("a@one.com, b@two.com") == "b@two.com");
  // An unencodable candidate is skipped in favour of an earlier one.
  CHECK(mail::envelope_address("a@one.com, b@☃.example") == "a@one.com");
  CHECK(mail::to_ascii_address("x@BÜCHER.example") == "x@xn--bcher-kva.example");
  CHECK_THROWS_AS(mail::to_ascii_address("élodie@example.com"), AddressError);
  CHECK_THROWS_AS(mail::to_ascii_address("a@☃.example"), AddressError);
  CHECK_THROWS_AS(mail::envelope_address("nobody"), AddressError);
  CHECK_THROWS_AS(mail::envelope_address("a@b.com\r\n"), AddressError);
}

TEST_CASE("encode_address_header leaves ASCII alone", "[address]") {
  CHECK(mail::encode_address_header("John Doe <john@example.com>") == "John Doe <john@example.com>");
  const std::string header = mail::encode_address_header("Jöhn <jo@éxample.com>");
  CHECK(header.ends_with(" <jo@xn--xample-9ua.com>"));
  CHECK(decode_phrase(header.substr(0, header.find(" <"))) == "Jöhn");
  CHECK_THROWS_AS(mail::encode_address_header("ünparsable"), AddressError);
}

TEST_CASE("CR, LF and NUL are detected", "[address]") {
  CHECK(mail::has_crlf_or_nul("a@b.com\r"));
  CHECK(mail::has_crlf_or_nul("a@b.com\nBcc: c@d.com"));
  CHECK(mail::has_crlf_or_nul(std::string_view("a@b.com\0x", 9)));
  CHECK_FALSE(mail::has_crlf_or_nul("\"A\" <a@b.com>"));
}

TEST_CASE("validate_address_list refuses malformed lists", "[address]") {
  CHECK_FALSE(mail::validate_address_list("a@b.com, \"C D\" <c@d.com>"));
  CHECK_FALSE(mail::validate_address_list("grp: a@b.com, c@d.com;"));
  CHECK(mail::validate_address_list("") == "The address list is empty.");
  CHECK(mail::validate_address_list("   ") == "The address list is empty.");
  CHECK(mail::validate_address_list("a@b.com\r\nBcc: x@y.z") == "The address list contains control characters.");
  CHECK(mail::validate_address_list("a@b.com\x01") == "The address list contains control characters.");
  const auto no_at = mail::validate_address_list("a@b.com, foo");
  REQUIRE(no_at);
  CHECK(no_at->find("\"foo\" is not an email address") != std::string::npos);
  CHECK(mail::validate_address_list("<>").has_value());
  // GMime silently stops at the ';' here; the list must still be refused.
  CHECK(mail::validate_address_list("a@b.com; c@d.com").has_value());
}

TEST_CASE("the fast path agrees with GMime on the shapes it accepts", "[address]") {
  const char* accepted[] = {
      "john@example.com",
      "  john.doe+tag@mail.example.co.uk  ",
      "<john@example.com>",
      "John <john@example.com>",
      "John Doe <john@example.com>",
      "\"John Doe\" <john@example.com>",
      "\"Doe, John\" <john@example.com>",
      "\"J. (Q) Doe\" <john@example.com>",
      "O'Brien <ob@example.com>",
      "Admin<admin@example.com>",
      "\"Zoë Müller\" <zoe@example.com>",
      "Zoë Müller <zoe@example.com>",
      "\"日本 語\" <a@example.jp>",
      "\"a@b.com\" <c@d.com>",
      "\"John  Doe\" <j@x.com>",
  };
  for (const char* text : accepted) {
    INFO(text);
    const auto simple = mail::detail::parse_simple_mailbox(text);
    REQUIRE(simple);
    CHECK(mail::detail::parse_with_gmime(text) == std::vector<Mailbox>{simple->owned()});
  }
  const char* refused[] = {
      "J. Doe <j@example.com>",        "j@example.com (John)", "\"a\\\"b\" <a@b.com>", "Jöhn <jö@example.com>",
      "\"Z\xC3\" <z@x.com>",           "\"A\tB\" <a@b.com>",   "a@b.com, c@d.com",     "John  Doe <j@x.com>",
      "=?utf-8?q?J?= <j@x.com>",       "a..b@x.com",           "\"\" <a@b.com>",       "a@b@c.com",
      "\"<Boss>\" <boss@example.com>",
  };
  for (const char* text : refused) {
    INFO(text);
    CHECK_FALSE(mail::detail::parse_simple_mailbox(text));
  }
}
