#include "test_host.hpp"

#include "core/errors.hpp"
#include "records/params.hpp"
#include "records/record_service.hpp"
#include "records/settings.hpp"

#include <catch2/catch.hpp>

using juniper::UserError;
using juniper::test::TestHost;
using json = nlohmann::json;
namespace records = juniper::records;

namespace {
std::string param(TestHost& t, const std::string& key) {
  auto env = t.host->env();
  return records::param_get(env, key).value_or("");
}
}  // namespace

TEST_CASE("installing a module installs its dependency first and extends its record type", "[modules]") {
  TestHost t;
  auto lock = t.host->db().lock();
  t.host->modules().install({"test_ext"});
  const auto list = t.host->modules().list();
  auto state = [&](const std::string& n) {
    for (const auto& s : list) {
      if (s.manifest.name == n) return s.state;
    }
    return std::string("missing");
  };
  CHECK(state("test_base") == "installed");
  CHECK(state("test_ext") == "installed");

  auto env = t.host->env();
  const auto cols = t.host->db().columns("test_base_partner");
  CHECK(cols.contains("bank_code"));  // the extension's column is on the base module's table

  SECTION("defaults, and a change-default fills fields not set explicitly") {
    const auto id = records::create(env, "test_base.partner", {{"name", "Ann"}});
    auto rec = records::read(env, "test_base.partner", id);
    CHECK(rec["kind"] == "person");
    CHECK(rec["score"] == 10);
    CHECK(rec["active"] == true);
    const auto bank = records::create(env, "test_base.partner", {{"name", "B Bank"}, {"kind", "bank"}, {"bank_code", "BB1"}});
    rec = records::read(env, "test_base.partner", bank);
    CHECK(rec["vat"] == "BANK-VAT");
    CHECK(rec["score"] == 99);
    const auto own =
        records::create(env, "test_base.partner", {{"name", "C Bank"}, {"kind", "bank"}, {"bank_code", "C"}, {"vat", "BE123"}});
    CHECK(records::read(env, "test_base.partner", own)["vat"] == "BE123");
  }
  SECTION("the extension's constraint refuses with a message naming the record, and writes nothing") {
    const auto before = t.snapshot();
    CHECK_THROWS_WITH(records::create(env, "test_base.partner", {{"name", "D Bank"}, {"kind", "bank"}}),
                      Catch::Contains("Partner D Bank is a bank: please fill its Bank Code."));
    CHECK(t.snapshot() == before);
    const auto id = records::create(env, "test_base.partner", {{"name", "Eve"}});
    CHECK_THROWS_WITH(records::write(env, "test_base.partner", id, {{"kind", "bank"}}), Catch::Contains("Partner Eve is a bank"));
  }
  SECTION("bad values are refused naming the field") {
    CHECK_THROWS_WITH(records::create(env, "test_base.partner", {{"name", "X"}, {"kind", "alien"}}),
                      Catch::Contains("'alien' is not one of: person, company, bank"));
    CHECK_THROWS_WITH(records::create(env, "test_base.partner", {{"name", "X"}, {"score", "ten"}}), Catch::Contains("score"));
    CHECK_THROWS_WITH(records::create(env, "test_base.partner", {{"kind", "person"}}),
                      Catch::Contains("Name (name) is required"));
    CHECK_THROWS_WITH(records::create(env, "test_base.partner", {{"name", "X"}, {"nope", "1"}}),
                      Catch::Contains("unknown field 'nope'"));
  }
  SECTION("the hook runs for every change of the module's records") {
    const auto id = records::create(env, "test_base.partner", {{"name", "Ann"}});
    records::write(env, "test_base.partner", id, {{"vat", "X"}});
    CHECK(param(t, "test_base.changes") == "2");
  }
  SECTION("an action runs, and its visibility follows the record") {
    const auto id = records::create(env, "test_base.partner", {{"name", "Ann"}});
    const auto* action = env.registry.action("test_base.partner", "shout");
    REQUIRE(action != nullptr);
    CHECK(action->label == "Shout");
    CHECK(action->visible(env, records::read(env, "test_base.partner", id)));
    CHECK(action->invoke(env, id)["message"] == "Shouted at Ann");
    CHECK(records::read(env, "test_base.partner", id)["name"] == "Ann!");
    const auto co = records::create(env, "test_base.partner", {{"name", "Co"}, {"kind", "company"}});
    CHECK_FALSE(action->visible(env, records::read(env, "test_base.partner", co)));
  }
  SECTION("a settings field has its default, then the stored value") {
    auto find = [&]() {
      for (const auto& v : records::settings_show(env)) {
        if (v.def->name == "test_base_greeting") return v.value;
      }
      return json("missing");
    };
    CHECK(find() == "hello");
    records::setting_set(env, "test_base_greeting", "bonjour");
    CHECK(find() == "bonjour");
    CHECK(param(t, "test_base_greeting") == "bonjour");
  }
  SECTION("secret fields are encrypted at rest and masked when read") {
    const auto id = records::create(env, "test_base.partner", {{"name", "Ann"}, {"api_key", "sk-live-123"}});
    std::string raw;
    t.host->db().session() << "SELECT api_key FROM test_base_partner WHERE id = :id", soci::use(id), soci::into(raw);
    CHECK(raw.starts_with("gcm1:"));
    CHECK(raw.find("sk-live-123") == std::string::npos);
    CHECK(records::read(env, "test_base.partner", id)["api_key"] == "set");
    CHECK(records::read(env, "test_base.partner", id, records::Secrets::revealed)["api_key"] == "sk-live-123");
    // A list row reads only its columns, secrets masked the same way.
    CHECK(records::read_fields(env, "test_base.partner", id, {"api_key"}) == nlohmann::json({{"id", id}, {"api_key", "set"}}));
    CHECK(records::read_fields(env, "test_base.partner", id, {"name"}) == nlohmann::json({{"id", id}, {"name", "Ann"}}));
    CHECK_THROWS(records::read_fields(env, "test_base.partner", id, {"no_such_field"}));
  }
}

TEST_CASE("uninstalling removes what the module owns and leaves the rest", "[modules]") {
  TestHost t;
  auto lock = t.host->db().lock();
  t.host->modules().install({"test_ext"});
  {
    auto env = t.host->env();
    records::create(env, "test_base.partner", {{"name", "B"}, {"kind", "bank"}, {"bank_code", "1"}});
  }
  t.host->modules().uninstall({"test_ext"});
  {
    auto env = t.host->env();
    CHECK_FALSE(t.host->db().columns("test_base_partner").contains("bank_code"));
    const auto partners = records::list(env, "test_base.partner");
    REQUIRE(partners.size() == 1);
    CHECK(partners[0]["kind"] == "company");  // the removed selection value fell back
    CHECK(param(t, "test_ext.uninstalled") == "yes");
  }
  // Uninstalling the base cascades to dependents and drops its table and settings.
  t.host->modules().install({"test_ext"});
  {
    auto env = t.host->env();
    records::setting_set(env, "test_base_greeting", "hi");
  }
  t.host->modules().uninstall({"test_base"});
  CHECK_FALSE(t.host->db().table_exists("test_base_partner"));
  CHECK(param(t, "test_base_greeting").empty());
  for (const auto& s : t.host->modules().list()) {
    if (s.manifest.name == "test_base" || s.manifest.name == "test_ext") CHECK(s.state == "uninstalled");
  }
  auto env = t.host->env();
  CHECK_THROWS_WITH(records::list(env, "test_base.partner"), Catch::Contains("unknown model 'test_base.partner'"));
}

TEST_CASE("an install or uninstall swaps in a new registry; one already in use never changes", "[modules]") {
  TestHost t;
  auto lock = t.host->db().lock();
  const auto before = t.host->modules().registry();
  auto env_before = t.host->env();  // a request that began before the install
  t.host->modules().install({"test_base"});
  const auto installed = t.host->modules().registry();
  CHECK(installed != before);
  CHECK(installed->find_type("test_base.partner") != nullptr);
  CHECK(before->find_type("test_base.partner") == nullptr);  // the old snapshot is untouched
  CHECK(env_before.registry.find_type("test_base.partner") == nullptr);
  auto env_installed = t.host->env();
  t.host->modules().uninstall({"test_base"});
  // The uninstall swapped the registry under a live Env: what it points at is still whole.
  const auto* partner = env_installed.registry.find_type("test_base.partner");
  REQUIRE(partner != nullptr);
  CHECK(partner->name == "test_base.partner");
  CHECK(t.host->modules().registry()->find_type("test_base.partner") == nullptr);
}

TEST_CASE("installed modules come back after a restart", "[modules]") {
  TestHost t;
  {
    auto lock = t.host->db().lock();
    t.host->modules().install({"test_ext"});
    auto env = t.host->env();
    records::create(env, "test_base.partner", {{"name", "Ann"}, {"kind", "bank"}, {"bank_code", "x"}});
  }
  juniper::HostOptions o;
  o.data_dir = t.dir;
  if (const char* url = std::getenv("JUNIPER_TEST_DB"); url != nullptr && *url != '\0') o.db_url = url;
  o.module_paths = {TEST_MODULES_DIR};
  t.host = std::make_unique<juniper::Host>(o);
  t.host->boot();
  auto lock = t.host->db().lock();
  auto env = t.host->env();
  const auto partners = records::list(env, "test_base.partner");
  REQUIRE(partners.size() == 1);
  CHECK(partners[0]["kind"] == "bank");
  CHECK(t.host->modules().boot_problems().empty());
}
