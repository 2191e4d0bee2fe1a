#include "modules/manifest.hpp"

#include "core/errors.hpp"

#include <nlohmann/json.hpp>

#include <fstream>
#include <regex>

namespace juniper::modules {
namespace fs = std::filesystem;

Manifest read_manifest(const fs::path& file) {
  auto fail = [&](const std::string& why) { return UserError("module manifest " + file.string() + ": " + why); };
  std::ifstream in(file);
  if (!in) throw fail("cannot be read");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw fail(std::string("is not valid JSON: ") + e.what());
  }
  Manifest m;
  m.file = file;
  try {
    m.name = j.at("name").get<std::string>();
    m.display_name = j.value("display_name", m.name);
    m.version = j.at("version").get<std::string>();
    m.summary = j.value("summary", "");
    m.abi_major = j.at("abi").at("major").get<unsigned>();
    m.abi_minor = j.at("abi").at("minor").get<unsigned>();
    m.depends = j.value("depends", std::vector<std::string>{});
    m.library = file.parent_path() / j.value("library", m.name + ".so");
  } catch (const nlohmann::json::exception& e) {
    throw fail(std::string("missing or wrong field: ") + e.what());
  }
  static const std::regex ok("[a-z][a-z0-9_]*");
  if (!std::regex_match(m.name, ok)) throw fail("name '" + m.name + "' must match [a-z][a-z0-9_]*");
  if (file.stem() != m.name) throw fail("file name must be " + m.name + ".json");
  return m;
}

std::vector<Manifest> scan_manifests(const std::vector<fs::path>& dirs, std::vector<std::string>& problems) {
  std::vector<Manifest> out;
  for (const auto& dir : dirs) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) continue;
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
      if (e.path().extension() == ".json") files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      try {
        Manifest m = read_manifest(f);
        const bool dup = std::any_of(out.begin(), out.end(), [&](const Manifest& o) { return o.name == m.name; });
        if (!dup) out.push_back(std::move(m));  // earlier folders win, like PATH
      } catch (const UserError& e) {
        problems.emplace_back(e.what());
      }
    }
  }
  return out;
}

}  // namespace juniper::modules
