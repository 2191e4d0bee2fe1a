#include "test_host.hpp"

#include "core/errors.hpp"
#include "records/record_service.hpp"
#include "records/settings.hpp"

#include <juniper/sdk/c/juniper_abi.h>
#include <catch2/catch.hpp>

#include <algorithm>

using juniper::test::TestHost;
namespace records = juniper::records;

namespace {

// "ABI 1.<minor>" of the headers this host was built with.
const std::string kThisAbi = "ABI " + std::to_string(JUNIPER_ABI_MAJOR) + "." + std::to_string(JUNIPER_ABI_MINOR);
// Install must refuse with a message containing every fragment, and leave the database as it was.
void refused(TestHost& t, const std::string& module, const std::vector<std::string>& fragments) {
  auto lock = t.host->db().lock();
  const auto before = t.snapshot();
  try {
    t.host->modules().install({module});
    FAIL("installing " << module << " should have been refused");
  } catch (const juniper::UserError& e) {
    const std::string msg = e.what();
    INFO(msg);
    for (const auto& f : fragments) CHECK(msg.find(f) != std::string::npos);
  }
  CHECK(t.snapshot() == before);
}
}  // namespace

TEST_CASE("the host refuses bad modules before running their code, and changes nothing", "[modules][refusals]") {
  TestHost t;
  {
    auto lock = t.host->db().lock();
    t.host->modules().install({"test_base"});  // a working module, to show it keeps working
  }
  SECTION("another ABI major, from the manifest, without loading the library") {
    refused(t, "test_abi_next_major", {"test_abi_next_major", "ABI 2.0", kThisAbi, "rebuild"});
  }
  SECTION("a newer ABI minor") {
    refused(t, "test_abi_newer_minor", {"test_abi_newer_minor", "1.99", kThisAbi, "upgrade juniper"});
  }
  SECTION("a library whose descriptor disagrees with its manifest (ABI)") {
    refused(t, "test_abi_lying", {"test_abi_lying", "library says ABI 2.0", "says 1.1"});
  }
  SECTION("a library whose descriptor disagrees with its manifest (version)") {
    refused(t, "test_version_mismatch", {"test_version_mismatch", "version 1.0.0", "2.0.0"});
  }
  SECTION("a missing entry symbol") { refused(t, "test_no_entry", {"test_no_entry", "juniper_module_get_descriptor_v1"}); }
  SECTION("a missing dependency") { refused(t, "test_missing_dep", {"test_missing_dep", "no_such_module", "not available"}); }
  SECTION("a dependency cycle") { refused(t, "test_cycle_a", {"cycle", "test_cycle_a", "test_cycle_b"}); }
  SECTION("a declare() that extends what it does not depend on") {
    refused(t, "test_bad_declare", {"test_bad_declare", "test_base.partner", "not among its dependencies"});
  }
  SECTION("an unknown module") { refused(t, "nope", {"'nope' is not available"}); }

  SECTION("a module built for an older ABI minor (1.0, before checkbox_label) still loads") {
    auto lock = t.host->db().lock();
    t.host->modules().install({"test_abi_older_minor"});
    const auto all = t.host->modules().list();
    const auto it = std::find_if(all.begin(), all.end(), [](const auto& m) { return m.manifest.name == "test_abi_older_minor"; });
    REQUIRE(it != all.end());
    CHECK(it->state == "installed");
    CHECK(it->problem.empty());
  }

  SECTION("a module compiled against the frozen ABI 1.0 headers: its smaller structs and arrays work") {
    auto lock = t.host->db().lock();
    t.host->modules().install({"test_abi10"});
    auto env = t.host->env();
    const auto* type = env.registry.find_type("test_abi10.note");
    REQUIRE(type != nullptr);
    REQUIRE(type->field("count") != nullptr);  // the third element of a 1.0-sized array
    CHECK(type->field("count")->help == "a 1.0 help text");
    CHECK(type->field("kind")->choices.size() == 2);
    const auto id = records::create(env, "test_abi10.note", {{"name", "old"}});
    const auto rec = records::read(env, "test_abi10.note", id);
    CHECK(rec["kind"] == "a");  // defaults of the 1.0 descriptors
    CHECK(rec["count"] == 3);
    const auto* action = env.registry.action("test_abi10.note", "shout");
    REQUIRE(action != nullptr);
    CHECK(action->invoke(env, id)["message"] == "shouted");  // through the 1.0 host table
    CHECK(records::read(env, "test_abi10.note", id)["count"] == 42);
    bool found = false;
    for (const auto& s : records::settings_show(env)) {
      if (s.def->name == "test_abi10_word") found = s.value == "hi" && !s.def->compute;  // zero-extended: no compute
    }
    CHECK(found);
  }

  // Whatever was refused, the good module still works.
  auto lock = t.host->db().lock();
  auto env = t.host->env();
  CHECK(env.registry.find_type("test_base.partner") != nullptr);
  CHECK(env.registry.find_type("test_bad_declare.thing") == nullptr);
}
