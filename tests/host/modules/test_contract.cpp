// sdk/include/juniper/sdk/c/juniper_records.h promises modules the host's record types, fields,
// setting and parameter names for all of 1.x: the host must keep every one of them.
#include "test_host.hpp"

#include <juniper/sdk/c/juniper_records.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdio>
#include <vector>

using juniper::test::TestHost;

namespace {

void has_fields(const juniper::records::RecordType& type, const std::vector<std::string>& promised) {
  for (const auto& name : promised) {
    INFO(type.name << "." << name);
    CHECK(std::any_of(type.fields.begin(), type.fields.end(), [&](const auto& f) { return f.name == name; }));
  }
}

}  // namespace

TEST_CASE("the record contract modules rely on is what the host declares", "[modules][contract]") {
  TestHost t;
  auto lease = t.host->db().lock();
  auto env = t.host->env();
  const auto& r = env.registry;
  has_fields(r.type(JUNIPER_MODEL_OUTGOING_SERVER), {JUNIPER_OUTGOING_SERVER_FIELDS});
  has_fields(r.type(JUNIPER_MODEL_INCOMING_SERVER), {JUNIPER_INCOMING_SERVER_FIELDS});
  has_fields(r.type(JUNIPER_MODEL_MAIL), {JUNIPER_MAIL_FIELDS});
  has_fields(r.type(JUNIPER_MODEL_MESSAGE), {JUNIPER_MESSAGE_FIELDS});
  const auto* custom = r.setting(JUNIPER_SETTING_CUSTOM_EMAIL_SERVERS);
  REQUIRE(custom != nullptr);
  CHECK(custom->type == juniper::records::FieldType::boolean);
  char page[64];
  std::snprintf(page, sizeof page, JUNIPER_RECORD_PAGE_FORMAT, JUNIPER_MODEL_OUTGOING_SERVER, 3LL);
  CHECK(std::string(page) == "/web/record/ir.mail_server/3");  // the route web/ serves (test_pages)
}
