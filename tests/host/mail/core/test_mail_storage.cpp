// A mail's bodies live apart from its row (mail_mail_apart): the queue rewrites the row at every
// claim, lease and outcome, and SQLite copies the whole row each time.
#include "mail_fixture.hpp"

#include "mail/records.hpp"
#include "records/schema_sync.hpp"

#include <catch2/catch.hpp>

using juniper::test::MailHost;
namespace mail = juniper::mail;
namespace records = juniper::records;

namespace {
std::string side_body(MailHost& t, std::int64_t id) {
  std::string body;
  soci::indicator ind = soci::i_null;
  t.host->db().session() << "SELECT body_text FROM mail_mail_apart WHERE id = :id", soci::use(id), soci::into(body, ind);
  return ind == soci::i_ok ? body : "(none)";
}
}  // namespace

TEST_CASE("a mail's bodies are kept apart from its row, and read, written, searched and deleted with it", "[mail]") {
  MailHost t;
  auto lock = t.host->db().lock();
  auto env = t.env();
  CHECK_FALSE(t.host->db().columns("mail_mail").contains("body_text"));
  CHECK_FALSE(t.host->db().columns("mail_mail").contains("body_html"));
  const auto id = records::create(
      env, mail::kMail, {{"email_from", "a@example.com"}, {"subject", "s"}, {"body_text", "hello"}, {"body_html", "<p>hi</p>"}});
  const auto bare = records::create(env, mail::kMail, {{"email_from", "a@example.com"}, {"subject", "no body"}});
  CHECK(side_body(t, id) == "hello");
  CHECK(side_body(t, bare) == "(none)");  // nothing kept apart, no side row

  auto rec = records::read(env, mail::kMail, id);
  CHECK(rec["body_text"] == "hello");
  CHECK(rec["body_html"] == "<p>hi</p>");
  CHECK(records::read(env, mail::kMail, bare)["body_text"].is_null());

  records::write(env, mail::kMail, id, {{"subject", "only the row"}});
  CHECK(records::read(env, mail::kMail, id)["body_text"] == "hello");
  records::write(env, mail::kMail, id, {{"body_text", "changed"}});
  records::write(env, mail::kMail, bare, {{"body_text", "added later"}});
  rec = records::read(env, mail::kMail, id);
  CHECK(rec["body_text"] == "changed");
  CHECK(rec["body_html"] == "<p>hi</p>");
  CHECK(rec["subject"] == "only the row");
  CHECK(records::read(env, mail::kMail, bare)["body_text"] == "added later");

  CHECK(records::search(env, mail::kMail, {{"body_text", "changed"}}) == std::vector<std::int64_t>{id});
  records::write(env, mail::kMail, bare, {{"body_text", nullptr}});
  CHECK(records::search(env, mail::kMail, {{"body_text", nullptr}}) == std::vector<std::int64_t>{bare});

  records::remove(env, mail::kMail, id);
  CHECK(side_body(t, id) == "(none)");
}

TEST_CASE("a database from before keeps its mails' bodies: they move out of the row at start", "[mail]") {
  MailHost t;
  auto lock = t.host->db().lock();
  auto env = t.env();
  const auto kept = records::create(env, mail::kMail, {{"email_from", "a@example.com"}, {"body_text", "already apart"}});
  // The row as an older Juniper wrote it: the bodies in their own columns.
  auto& sql = t.host->db().session();
  sql << "ALTER TABLE mail_mail ADD COLUMN body_text TEXT";
  sql << "ALTER TABLE mail_mail ADD COLUMN body_html TEXT";
  sql << "INSERT INTO mail_mail (email_from, state, body_text, body_html) VALUES ('old@example.com', 'outgoing', 'old body', "
         "'<p>old</p>')";
  std::int64_t old = 0;
  sql << "SELECT MAX(id) FROM mail_mail", soci::into(old);

  records::sync_table(t.host->db(), env.registry.type(mail::kMail));

  CHECK_FALSE(t.host->db().columns("mail_mail").contains("body_text"));
  const auto rec = records::read(env, mail::kMail, old);
  CHECK(rec["body_text"] == "old body");
  CHECK(rec["body_html"] == "<p>old</p>");
  CHECK(records::read(env, mail::kMail, kept)["body_text"] == "already apart");
}
