// Fetching from the real Dovecot: \Seen only after storage, no duplicates after a crash.
#include "mail_fixture.hpp"

#include "core/crypto.hpp"
#include "mail/attachment_store.hpp"
#include "mail/fetcher.hpp"
#include "mail/mime/message.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <set>

using juniper::test::MailHost;
using juniper::test::unique_mailbox;
namespace mail = juniper::mail;
namespace records = juniper::records;

namespace {
std::string message(const std::string& id, const std::string& subject) {
  return "From: Partner <partner@other.org>\r\nTo: alice@example.com\r\nSubject: " + subject + "\r\nMessage-ID: <" + id +
         ">\r\nDate: Wed, 25 Nov 2026 10:00:00 +0000\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello " + subject + "\r\n";
}
// Delivers to `box` (a new mailbox, `box`-password) a mail from a partner with these attachments.
void deliver_with(MailHost& t, const std::string& box, const std::string& subject, const std::string& text,
                  std::vector<mail::mime::Attachment> attachments) {
  t.stack.add_user(box, box + "-password");
  mail::mime::OutgoingMessage m;
  m.from = "partner@other.org";
  m.to = {box};
  m.subject = subject;
  m.text_body = text;
  m.attachments = std::move(attachments);
  t.stack.deliver(box, mail::mime::build(m));
}
// A confirmed incoming server on the test Dovecot for `box`, with `extra` values.
std::int64_t confirmed_server(MailHost& t, records::Env& e, const std::string& name, const std::string& box,
                              nlohmann::json extra = nlohmann::json::object()) {
  nlohmann::json v = {{"name", name},   {"server", "127.0.0.1"}, {"port", t.stack["IMAPS_PORT"]},
                      {"is_ssl", true}, {"user", box},           {"password", box + "-password"},
                      {"state", "done"}};
  v.update(extra);
  return records::create(e, mail::kIncomingServer, v);
}
std::int64_t stored(MailHost& t) {
  int n = 0;
  t.host->db().session() << "SELECT COUNT(*) FROM mail_message", soci::into(n);
  return n;
}
}  // namespace

TEST_CASE("Test & Confirm, then fetch: messages stored, then marked Seen; nothing stored twice", "[mail][fetch]") {
  MailHost t;
  auto lock = t.host->db().lock();
  const std::string box = unique_mailbox("inbox");
  t.stack.add_user(box, "inbox-password");
  for (int i = 0; i < 3; ++i) t.stack.deliver(box, message("m" + std::to_string(i) + "-" + box, "Order " + std::to_string(i)));
  auto e = t.env();
  const auto id = records::create(e, mail::kIncomingServer,
                                  {{"name", "Inbox"},
                                   {"server", "127.0.0.1"},
                                   {"port", t.stack["IMAPS_PORT"]},
                                   {"is_ssl", true},
                                   {"user", box},
                                   {"password", "inbox-password"}});
  const auto* confirm = e.registry.action(mail::kIncomingServer, "button_confirm_login");
  REQUIRE(confirm != nullptr);
  confirm->invoke(e, id);
  CHECK(records::read(e, mail::kIncomingServer, id)["state"] == "done");

  const auto r = mail::fetch_all(e, t.host->modules().hooks(), t.conf());
  CHECK(r.stored == 3);
  CHECK(stored(t) == 3);
  const auto msgs = records::list(e, mail::kMessage);
  // Dovecot numbers maildir files in directory order, not delivery order: look the message up.
  const auto first = std::find_if(msgs.begin(), msgs.end(), [](const auto& m) { return m["subject"] == "Order 0"; });
  REQUIRE(first != msgs.end());
  CHECK((*first)["email_from"].get<std::string>().find("partner@other.org") != std::string::npos);
  CHECK((*first)["body_text"].get<std::string>().find("Hello Order 0") != std::string::npos);
  CHECK(mail::fetch_all(e, t.host->modules().hooks(), t.conf()).stored == 0);  // all Seen now

  SECTION("a crash between the commit and \\Seen refetches, but does not store twice") {
    const std::string raw = message("again-" + box, "Again");
    t.stack.deliver(box, raw);
    // Store it as a run that died before marking it Seen would have.
    records::create(e, mail::kMessage,
                    {{"message_id", "<again-" + box + ">"},
                     {"fetchmail_server_id", id},
                     {"subject", "Again"},
                     {"content_hash", juniper::crypto::to_hex(juniper::crypto::sha256(raw))}});
    const auto again = mail::fetch_all(e, t.host->modules().hooks(), t.conf());
    CHECK(again.stored == 0);
    CHECK(again.duplicates == 1);
    CHECK(stored(t) == 4);
  }
  SECTION("a different message reusing a stored Message-ID is stored, not dropped") {
    // Whoever knows an ID must not be able to suppress a later message by reusing it.
    t.stack.deliver(box, message("m0-" + box, "Not order 0 at all"));
    const auto r2 = mail::fetch_all(e, t.host->modules().hooks(), t.conf());
    CHECK(r2.stored == 1);
    CHECK(r2.duplicates == 0);
    CHECK(stored(t) == 4);
  }
  SECTION("a message GMime cannot read is stored raw with the reason, then marked Seen") {
    const std::string garbage = "no colon here " + box + "\r\n\r\nbody\r\n";
    t.stack.deliver(box, garbage);
    const auto r2 = mail::fetch_all(e, t.host->modules().hooks(), t.conf());
    CHECK(r2.stored == 1);
    const auto msgs2 = records::list(e, mail::kMessage);  // newest first
    REQUIRE(msgs2.size() == 4);
    CHECK(msgs2.front()["raw"] == garbage);
    CHECK_FALSE(msgs2.front()["parse_error"].get<std::string>().empty());
    CHECK(mail::fetch_all(e, t.host->modules().hooks(), t.conf()).stored == 0);  // Seen once stored
  }
  SECTION("a wrong password is recorded on the server and nothing is stored") {
    t.stack.deliver(box, message("late-" + box, "Late"));
    records::write(e, mail::kIncomingServer, id, {{"password", "wrong"}});
    const auto bad = mail::fetch_all(e, t.host->modules().hooks(), t.conf());
    CHECK(bad.failed_servers == 1);
    const auto server = records::read(e, mail::kIncomingServer, id);
    CHECK(server["error_message"].get<std::string>().find("uthentication") != std::string::npos);
    CHECK_FALSE(server["error_date"].is_null());
    records::write(e, mail::kIncomingServer, id, {{"password", "inbox-password"}});
    CHECK(mail::fetch_all(e, t.host->modules().hooks(), t.conf()).stored == 1);
  }
}

TEST_CASE("a message over 1 MB is received through a spool file and stored with its attachment's size", "[mail][fetch]") {
  MailHost t;
  auto lock = t.host->db().lock();
  const std::string box = unique_mailbox("big");
  std::string scan(3u << 20, '\0');
  for (std::size_t i = 0; i < scan.size(); ++i) scan[i] = static_cast<char>((i * 2654435761u) >> 13);
  deliver_with(t, box, "Scan", "The scan is attached.", {{"scan.pdf", "", scan}});
  auto e = t.env();
  const auto id = confirmed_server(t, e, "Big", box);

  auto listing = [&] {
    std::set<std::string> names;
    for (const auto& f : std::filesystem::directory_iterator(t.host->data().root())) names.insert(f.path().filename().string());
    return names;
  };
  const auto before = listing();
  // A spool folder that cannot be written: the server's error names it, the message stays unread.
  auto conf = t.conf();
  REQUIRE(conf["spool_dir"] == t.host->data().root().string());  // the data folder by default
  conf["spool_dir"] = (t.host->data().root() / "no-such-folder").string();
  const auto failed = mail::fetch_all(e, t.host->modules().hooks(), conf, id);
  CHECK(failed.failed_servers == 1);
  CHECK_THAT(records::read(e, mail::kIncomingServer, id)["error_message"].get<std::string>(), Catch::Contains("no-such-folder"));
  CHECK(stored(t) == 0);

  const auto r = mail::fetch_all(e, t.host->modules().hooks(), t.conf(), id);
  CHECK(r.stored == 1);
  const auto msgs = records::list(e, mail::kMessage);
  REQUIRE(msgs.size() == 1);
  CHECK(msgs[0]["subject"] == "Scan");
  CHECK(msgs[0]["body_text"].get<std::string>().find("The scan is attached.") != std::string::npos);
  const auto atts = nlohmann::json::parse(msgs[0]["attachments"].get<std::string>());
  REQUIRE(atts.size() == 1);
  CHECK(atts[0]["filename"] == "scan.pdf");
  CHECK(atts[0]["size"] == scan.size());  // decoded through GMime from the file, byte for byte counted
  // Keep Attachments (on by default): the bytes are stored with the message, decoded into a spool
  // file on the way (never whole in memory), read back byte for byte.
  CHECK(atts[0]["stored"] == true);
  const auto message_id = msgs[0]["id"].get<std::int64_t>();
  CHECK(mail::read_attachment(e, message_id, 0, 0, scan.size() + 1, mail::Owner::message) == scan);
  CHECK(mail::read_attachment(e, message_id, 0, 1000, 10, mail::Owner::message) == scan.substr(1000, 10));
  CHECK(mail::fetch_all(e, t.host->modules().hooks(), t.conf(), id).stored == 0);  // marked read after storing
  // The spool files were unlinked from birth: nothing is left in the data folder.
  CHECK(listing() == before);
  // Deleting the message deletes its attachments.
  records::remove(e, mail::kMessage, message_id);
  CHECK(mail::read_attachment(e, message_id, 0, 0, 10, mail::Owner::message).empty());
}

TEST_CASE("Keep Attachments off: a fetched message keeps its attachments' names and sizes only", "[mail][fetch]") {
  MailHost t;
  auto lock = t.host->db().lock();
  const std::string box = unique_mailbox("noattach");
  deliver_with(t, box, "Invoice", "Attached.",
               {{"invoice.pdf", "application/pdf", std::string(5000, 'x')}, {"notes.txt", "", "a note"}});
  auto e = t.env();
  const auto id = confirmed_server(t, e, "No attachments", box, {{"attach", false}});
  REQUIRE(mail::fetch_all(e, t.host->modules().hooks(), t.conf(), id).stored == 1);
  const auto msg = records::list(e, mail::kMessage).at(0);
  const auto atts = nlohmann::json::parse(msg["attachments"].get<std::string>());
  REQUIRE(atts.size() == 2);
  CHECK(atts[0]["size"] == 5000);
  CHECK(atts[1]["filename"] == "notes.txt");
  CHECK_FALSE(atts[0].contains("stored"));
  CHECK(mail::read_attachment(e, msg["id"].get<std::int64_t>(), 0, 0, 10, mail::Owner::message).empty());
}
