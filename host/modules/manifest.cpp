#include "modules/manifest.hpp"

#include "core/errors.hpp"

#include <nlohmann/json.hpp>

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
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
    m.library_spec = j.value("library", m.name + ".so");
    m.library = file.parent_path() / m.library_spec;
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

namespace {

std::string octal(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

// Whoever may write `p` may change the code juniper runs: only root and the user running juniper.
// `sticky_ok`: a shared folder such as /tmp above the module folder (others cannot rename what
// is ours inside it).
void check_safe(const Manifest& m, const fs::path& p, uid_t euid, bool sticky_ok) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) {
    throw UserError("module " + m.name + ": cannot check " + p.string() + ": " + std::strerror(errno));
  }
  const bool loose = (st.st_mode & (S_IWGRP | S_IWOTH)) != 0 && !(sticky_ok && (st.st_mode & S_ISVTX) != 0);
  if (loose) {
    throw UserError("module " + m.name + ": refused, " + p.string() + " is writable by group or others (mode " +
                    octal(st.st_mode) + "), so anyone could change the code juniper runs: run `chmod go-w " + p.string() + "`");
  }
  if (st.st_uid != 0 && st.st_uid != euid) {
    const std::string who = euid == 0 ? "root" : "root or the user running juniper (uid " + std::to_string(euid) + ")";
    throw UserError("module " + m.name + ": refused, " + p.string() + " is owned by uid " + std::to_string(st.st_uid) +
                    ", not by " + who + ": run `chown " + (euid == 0 ? std::string("root") : std::to_string(euid)) + " " +
                    p.string() + "`");
  }
}

struct Resolved {
  fs::path folder;   // where the manifest was found, canonical
  fs::path library;  // canonical, inside folder
};

// The library's real path (symlinks followed) must stay inside the manifest's folder.
Resolved resolve_inside(const Manifest& m) {
  std::error_code ec;
  auto fail = [&](const std::string& what, const fs::path& p) {
    return UserError("module " + m.name + ": cannot resolve its " + what + " " + p.string() + ": " + ec.message());
  };
  Resolved r;
  r.folder = fs::canonical(m.file.parent_path(), ec);
  if (ec) throw fail("folder", m.file.parent_path());
  r.library = fs::weakly_canonical(m.library, ec);
  if (ec) throw fail("library", m.library);
  const fs::path rel = r.library.lexically_relative(r.folder);
  if (rel.empty() || *rel.begin() == ".." || rel == ".") {
    throw UserError("module " + m.name + ": refused, its manifest " + m.file.string() + " names the library '" + m.library_spec +
                    "', which resolves to " + r.library.string() + ", outside the module folder " + r.folder.string() +
                    "; a module's library must be in the folder of its manifest");
  }
  if (!fs::is_regular_file(r.library, ec)) {
    throw UserError("module " + m.name + ": its library " + r.library.string() + " (named '" + m.library_spec + "' in " +
                    m.file.string() + ") is missing or not a regular file");
  }
  return r;
}

}  // namespace

fs::path checked_library(const Manifest& m, uid_t euid) {
  const Resolved r = resolve_inside(m);
  // The folders above, outermost first (so the message names the first one to fix)...
  std::vector<fs::path> above;
  for (fs::path p = r.folder.parent_path(); !p.empty(); p = p.parent_path()) {
    above.push_back(p);
    if (p == p.root_path()) break;
  }
  for (auto it = above.rbegin(); it != above.rend(); ++it) check_safe(m, *it, euid, true);
  // ...then the module folder, any folder below it down to the library, the manifest, the library.
  check_safe(m, r.folder, euid, false);
  const fs::path rel = r.library.lexically_relative(r.folder);
  fs::path dir = r.folder;
  for (auto part = rel.begin(); std::next(part) != rel.end(); ++part) check_safe(m, dir /= *part, euid, false);
  check_safe(m, m.file, euid, false);
  check_safe(m, r.library, euid, false);
  return r.library;
}

}  // namespace juniper::modules
