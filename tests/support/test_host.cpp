#include "test_host.hpp"

#include <cstdlib>
#include <random>

namespace juniper::test {
namespace fs = std::filesystem;

TestHost::TestHost() {
  std::random_device rd;
  dir = fs::temp_directory_path() / ("juniper-test-" + std::to_string(rd()));
  fs::create_directories(dir);
  HostOptions o;
  o.data_dir = dir;
  if (const char* url = std::getenv("JUNIPER_TEST_DB"); url != nullptr && *url != '\0') {
    o.db_url = url;
    auto db = Database::open(url, DataDir(dir));
    auto lease = db->lock();
    db->session() << "DROP SCHEMA IF EXISTS public CASCADE";
    db->session() << "CREATE SCHEMA public";
  }
  o.module_paths = {TEST_MODULES_DIR, JUNIPER_MODULES_DIR};
  host = std::make_unique<Host>(o);
  host->init();
}

TestHost::~TestHost() {
  host.reset();
  std::error_code ec;
  fs::remove_all(dir, ec);
}

std::map<std::string, std::string> TestHost::snapshot() {
  auto lock = host->db().lock();
  std::map<std::string, std::string> out;
  for (const auto& t : host->db().tables()) {
    std::string cols;
    for (const auto& c : host->db().columns(t)) cols += c + ",";
    int n = 0;
    host->db().session() << "SELECT COUNT(*) FROM " + t, soci::into(n);
    out[t] = cols + " rows=" + std::to_string(n);
  }
  soci::rowset<soci::row> rs = (host->db().session().prepare << "SELECT name, state FROM ir_module_module ORDER BY name");
  for (const auto& r : rs) out["module " + r.get<std::string>(0)] = r.get<std::string>(1);
  soci::rowset<soci::row> ps = (host->db().session().prepare << "SELECT key, value FROM ir_config_parameter ORDER BY key");
  for (const auto& r : ps) out["param " + r.get<std::string>(0)] = r.get<std::string>(1);
  return out;
}

}  // namespace juniper::test
