// A Host on a fresh data folder, with the test modules on its path. The database is SQLite,
// or PostgreSQL when JUNIPER_TEST_DB names one (its schema is wiped first).
#pragma once

#include "app/host.hpp"

#include <filesystem>
#include <map>
#include <string>

namespace juniper::test {

struct TestHost {
  TestHost();
  ~TestHost();
  std::filesystem::path dir;
  std::unique_ptr<Host> host;

  // Tables with their columns and row counts, to prove a refusal changed nothing.
  std::map<std::string, std::string> snapshot();
};

}  // namespace juniper::test
