// SDK 1.9 sign: MACs under a key of the module's own, so no module needs the host's secret; and
// no module can replace that secret.
#include "test_host.hpp"

#include "core/crypto.hpp"
#include "modules/bridge.hpp"
#include "records/params.hpp"

#include <catch2/catch.hpp>

using juniper::test::TestHost;
namespace modules = juniper::modules;

namespace {

std::string sign(juniper_ctx& ctx, const std::string& purpose, const std::string& message) {
  std::string out;
  juniper_sink sink{&out, [](void* u, const char* d, size_t n) { static_cast<std::string*>(u)->append(d, n); }};
  modules::ErrorBox box;
  REQUIRE(modules::host_api()->sign(&ctx, {purpose.data(), purpose.size()}, {message.data(), message.size()}, &sink, &box.err) ==
          JUNIPER_OK);
  return out;
}

}  // namespace

TEST_CASE("sign: one key per module and purpose, derived from a secret the module never sees", "[modules][sign]") {
  TestHost t;
  auto lease = t.host->db().lock();
  auto env = t.host->env();
  juniper_ctx a{&env, "test_base"};
  juniper_ctx b{&env, "test_ext"};
  const std::string mac = sign(a, "oauth_state",
                               "ir.mail_server\x1f"
                               "1\x1fnonce");
  CHECK(mac.size() == 64);
  CHECK(mac.find_first_not_of("0123456789abcdef") == std::string::npos);
  CHECK(sign(a, "oauth_state",
             "ir.mail_server\x1f"
             "1\x1fnonce") == mac);  // recognisable later
  CHECK(sign(a, "oauth_state",
             "ir.mail_server\x1f"
             "2\x1fnonce") != mac);  // another message
  CHECK(sign(a, "browser",
             "ir.mail_server\x1f"
             "1\x1fnonce") != mac);  // another purpose
  CHECK(sign(b, "oauth_state",
             "ir.mail_server\x1f"
             "1\x1fnonce") != mac);  // another module
  // Not the host's secret used directly: knowing a MAC tells nothing about stored secrets' key.
  const auto secret = juniper::records::param_get(env, "database.secret");
  REQUIRE(secret);
  CHECK(juniper::crypto::to_hex(juniper::crypto::hmac_sha256(*secret,
                                                             "ir.mail_server\x1f"
                                                             "1\x1fnonce")) != mac);

  // A module cannot replace the host's secret (every stored secret would become unreadable).
  const std::string key = "database.secret", value = "chosen-by-a-module";
  modules::ErrorBox box;
  CHECK(modules::host_api()->param_set(&a, {key.data(), key.size()}, {value.data(), value.size()}, &box.err) ==
        JUNIPER_ERR_INVALID);
  CHECK(box.message.find("database.secret") != std::string::npos);
  CHECK(juniper::records::param_get(env, "database.secret") == secret);
}
