// Compose with attachments: the form's files are uploaded to disk (never memory), queued with
// the mail byte for byte; only an administrator may upload; a refusal says why and keeps the text.
#include "test_host.hpp"
#include "test_site.hpp"

#include "core/crypto.hpp"
#include "mail/attachment_store.hpp"
#include "records/params.hpp"

#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

using juniper::test::csrf_from;
using juniper::test::TestHost;
using juniper::test::UploadFile;
using juniper::test::WebClient;
namespace mail = juniper::mail;
namespace web = juniper::web;

namespace {

struct Site : TestHost {
  juniper::test::TestSite site{*host};
  WebClient* browser = site.browser.get();

  std::vector<std::pair<std::string, std::string>> form(const std::string& subject) {
    return {{"csrf_token", csrf_from(browser->get("/web/compose").body)},
            {"from", "alice@example.com"},
            {"to", "bob@example.com"},
            {"subject", subject},
            {"body", "Figures attached."}};
  }
  int mails() {
    auto lock = host->db().lock();
    int n = -1;
    host->db().session() << "SELECT COUNT(*) FROM mail_mail", soci::into(n);
    return n;
  }
};

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// Bigger than Compose's in-memory limit, every byte value in it.
std::string big_binary() {
  std::string s(web::kComposeBodyLimit + 1024 * 1024, '\0');
  for (std::size_t i = 0; i < s.size(); ++i) s[i] = static_cast<char>((i * 7) % 256);
  return s;
}

}  // namespace

TEST_CASE("Compose queues the files of its form with the mail, byte for byte, received on disk", "[web][upload]") {
  Site t;
  const std::string bytes = big_binary();
  const auto sent = t.browser->post_multipart("/web/compose", t.form("Quarterly figures"),
                                              {{"attachments", "figures é.xlsx", "application/vnd.ms-excel", bytes},
                                               {"attachments", "notes.txt", "text/plain", "three notes\n"}});
  REQUIRE(sent.status == 303);
  const std::string id = sent.location.substr(sent.location.find("mail.mail/") + 10);
  const std::int64_t mail_id = std::stoll(id.substr(0, id.find('?')));
  auto lock = t.host->db().lock();
  auto env = t.host->env();
  std::string listed;
  t.host->db().session() << "SELECT attachments FROM mail_mail WHERE id = :id", soci::use(mail_id), soci::into(listed);
  const auto list = nlohmann::json::parse(listed);
  REQUIRE(list.size() == 2);
  CHECK(list[0]["filename"] == "figures é.xlsx");
  CHECK(list[0]["content_type"] == "application/vnd.ms-excel");
  CHECK(list[0]["size"] == bytes.size());
  CHECK(list[1]["filename"] == "notes.txt");
  CHECK(mail::read_attachment(env, mail_id, 0, 0, bytes.size() + 1) == bytes);
  CHECK(mail::read_attachment(env, mail_id, 1, 0, 100) == "three notes\n");
  CHECK(t.site.server.inflight_upload_bytes() == 0u);
  CHECK(t.site.server.inflight_body_bytes() == 0u);
}

TEST_CASE("only an administrator's form may be an upload: others keep the 4 MB limit in memory", "[web][upload]") {
  Site t;
  const std::string bytes = big_binary();
  WebClient anonymous(t.site.base_url());
  CHECK(anonymous
            .post_multipart("/web/compose", {{"to", "bob@example.com"}},
                            {{"attachments", "a.bin", "application/octet-stream", bytes}})
            .status == 413);
  {
    auto lock = t.host->db().lock();
    const std::string hash = juniper::crypto::hash_password("clerk-password");
    t.host->db().session() << "INSERT INTO res_users (login, password_hash, is_admin) VALUES ('clerk', :h, 0)", soci::use(hash);
  }
  WebClient clerk(t.site.base_url());
  REQUIRE(clerk.login("clerk", "clerk-password"));
  CHECK(clerk
            .post_multipart("/web/compose", {{"to", "bob@example.com"}},
                            {{"attachments", "a.bin", "application/octet-stream", bytes}})
            .status == 413);
  // A small form from them is read, and refused for what they are.
  CHECK(clerk.post_multipart("/web/compose", {{"to", "bob@example.com"}}, {}).status == 403);
  CHECK(t.mails() == 0);
}

TEST_CASE("Compose refuses attachments over mail.max_size: says why, keeps the text, asks for the files again", "[web][upload]") {
  Site t;
  {
    auto lock = t.host->db().lock();
    auto env = t.host->env();
    juniper::records::param_set(env, "mail.max_size", std::to_string(1024 * 1024));
  }
  const auto refused =
      t.browser->post_multipart("/web/compose", t.form("Too big to queue"),
                                {{"attachments", "big.bin", "application/octet-stream", std::string(2 * 1024 * 1024, 'b')}});
  CHECK(refused.status == 400);
  CHECK(has(refused.body, "over the limit of 1024 kB (system parameter mail.max_size)"));
  CHECK(has(refused.body, "Choose the attachments again"));
  CHECK(has(refused.body, "Too big to queue"));
  CHECK(has(refused.body, "Figures attached."));
  CHECK(t.mails() == 0);
}

TEST_CASE("Compose refuses a multipart form without its CSRF token, or one it cannot read", "[web][upload]") {
  Site t;
  auto fields = t.form("No token");
  fields.erase(fields.begin());
  CHECK(t.browser->post_multipart("/web/compose", fields, {{"attachments", "a.txt", "text/plain", "x"}}).status == 403);
  std::vector<std::pair<std::string, std::string>> many = t.form("Many fields");
  for (int i = 0; i < 200; ++i) many.emplace_back("extra" + std::to_string(i), "v");
  const auto unreadable = t.browser->post_multipart("/web/compose", many, {});
  CHECK(unreadable.status == 400);
  CHECK(has(unreadable.body, "The form could not be read: the form has more than 100 fields and files"));
  CHECK(t.mails() == 0);
}

TEST_CASE("an upload refused before it is read gets the Compose page saying why, not a bare error", "[web][upload]") {
  Site t;
  const std::string type = "multipart/form-data; boundary=----x";
  const auto too_big = t.browser->post_announced("/web/compose", type, web::kComposeUploadLimit + 1);
  CHECK(too_big.status == 413);
  CHECK(has(too_big.body, "The mail was not sent: the upload is larger than this form takes. Nothing was queued"));
  CHECK(has(too_big.body, "<form method=\"post\" action=\"/web/compose\""));
  // Anonymous: no page of ours (that would show the Compose page to anyone), the plain refusal.
  WebClient anonymous(t.site.base_url());
  const auto refused = anonymous.post_announced("/web/compose", type, web::kComposeUploadLimit + 1);
  CHECK(refused.status == 413);
  CHECK_FALSE(has(refused.body, "Compose"));
  CHECK(t.mails() == 0);
}
