// <name>.json beside each module library, read before the library is loaded.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace juniper::modules {

struct Manifest {
  std::string name;
  std::string display_name;
  std::string version;
  std::string summary;
  unsigned abi_major = 0;
  unsigned abi_minor = 0;
  std::vector<std::string> depends;
  std::filesystem::path library;  // absolute
  std::filesystem::path file;     // the manifest itself
};

Manifest read_manifest(const std::filesystem::path& file);  // throws UserError naming the file
// Every *.json manifest under the given folders; unreadable ones are reported in `problems`.
std::vector<Manifest> scan_manifests(const std::vector<std::filesystem::path>& dirs, std::vector<std::string>& problems);

}  // namespace juniper::modules
