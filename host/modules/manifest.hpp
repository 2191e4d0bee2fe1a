// <name>.json beside each module library, read before the library is loaded.
#pragma once

#include <sys/types.h>

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
  std::string library_spec;       // `library` as the manifest writes it
  std::filesystem::path library;  // manifest folder / library_spec (not yet checked: see checked_library)
  std::filesystem::path file;     // the manifest itself
};

Manifest read_manifest(const std::filesystem::path& file);  // throws UserError naming the file
// Every *.json manifest under the given folders; unreadable ones are reported in `problems`.
std::vector<Manifest> scan_manifests(const std::vector<std::filesystem::path>& dirs, std::vector<std::string>& problems);

// The library a manifest names, resolved (symlinks followed) and checked before it is opened, so
// a refused library's code, its constructors included, never runs:
//  * it must be a regular file inside the folder the manifest was found in;
//  * that folder, the folders above it and below it down to the library, the manifest and the
//    library must not be writable by group or others (folders with the sticky bit excepted above
//    the module folder, like /tmp) and must be owned by root or by `euid` (as root: by root),
//    as sshd demands of key files.
// Throws UserError naming the module, the path and why (and the command that fixes it).
std::filesystem::path checked_library(const Manifest& m, uid_t euid);

}  // namespace juniper::modules
