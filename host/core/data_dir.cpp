#include "core/data_dir.hpp"

#include "core/errors.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>

namespace juniper {
namespace fs = std::filesystem;

namespace {
std::string trim(std::string s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  const auto e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

crypto::Bytes parse_key(const std::string& text, const std::string& origin) {
  const std::string t = trim(text);
  crypto::Bytes key;
  if (t.size() == 64 && t.find_first_not_of("0123456789abcdefABCDEF") == std::string::npos) {
    for (std::size_t i = 0; i < 64; i += 2) key.push_back(static_cast<std::uint8_t>(std::stoi(t.substr(i, 2), nullptr, 16)));
  } else {
    try {
      const std::string raw = crypto::base64_decode(t);
      key.assign(raw.begin(), raw.end());
    } catch (const std::invalid_argument&) {
    }
  }
  if (key.size() != 32) {
    throw UserError(origin +
                    " must hold a 32-byte key (64 hex digits or base64); create a new one with "
                    "`openssl rand -hex 32`");
  }
  return key;
}

std::string octal(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

// Takes group and other bits off `p` (a regular file or, when `folder`, a directory; symlinks
// and devices are left alone: chmod would change what they point to). "juniper.db 0644 -> 0600",
// or empty when nothing changed.
std::string restrict_mode(const fs::path& p, bool folder, std::vector<std::string>& notes) {
  struct stat st {};
  if (::lstat(p.c_str(), &st) != 0) return {};
  if (folder ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)) return {};
  if ((st.st_mode & 077) == 0) return {};
  const mode_t mode = st.st_mode & 07700;
  if (::chmod(p.c_str(), mode) != 0) {
    notes.push_back(p.string() + " is readable by group or others (mode " + octal(st.st_mode) +
                    ") and cannot be made private: " + std::strerror(errno) + "; run `chmod go-rwx " + p.string() + "`");
    return {};
  }
  return (folder ? p.string() : p.filename().string()) + " " + octal(st.st_mode) + " -> " + octal(mode);
}
}  // namespace

DataDir::DataDir(fs::path root) : root_(std::move(root)) {
  std::error_code ec;
  if (!fs::exists(root_)) {
    const PrivateUmask private_files;
    fs::create_directories(root_, ec);
    if (ec) throw UserError("cannot create the data folder " + root_.string() + ": " + ec.message());
    fs::permissions(root_, fs::perms::owner_all, ec);
  }
  make_private();
}

// The database holds mail bodies and password hashes, the log logins and addresses: a folder
// created by someone else's umask (0755) must not leave them readable by every local user.
void DataDir::make_private() {
  std::vector<std::string> changed;
  struct stat st {};
  if (::stat(root_.c_str(), &st) == 0 && (st.st_mode & S_ISVTX) != 0) {
    // A shared folder such as /tmp: closing it would break everyone else; the files still are.
    notes_.push_back("the data folder " + root_.string() + " is a shared folder (mode " + octal(st.st_mode) +
                     "): use a folder of juniper's own");
  } else if (auto c = restrict_mode(root_, true, notes_); !c.empty()) {
    changed.push_back(std::move(c));
  }
  for (const char* f : {"juniper.db", "juniper.db-wal", "juniper.db-shm", "juniper.db-journal", "juniper.log", "master.key"}) {
    if (auto c = restrict_mode(root_ / f, false, notes_); !c.empty()) changed.push_back(std::move(c));
  }
  if (!changed.empty()) {
    std::string what;
    for (const auto& c : changed) what += (what.empty() ? "" : ", ") + c;
    notes_.insert(notes_.begin(), "the data folder was readable by other users; made private: " + what);
  }
  if (::stat(config_file().c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
    notes_.push_back(config_file().string() + " is readable by group or others (mode " + octal(st.st_mode) +
                     ") and may hold smtp_password: run `chmod 600 " + config_file().string() + "`");
  }
}

PrivateUmask::PrivateUmask() : old_(::umask(077)) {}
PrivateUmask::~PrivateUmask() { ::umask(old_); }

crypto::Bytes DataDir::master_key() const {
  if (const char* env = std::getenv("JUNIPER_MASTER_KEY"); env != nullptr && *env != '\0') {
    return parse_key(env, "JUNIPER_MASTER_KEY");
  }
  const fs::path file = root_ / "master.key";
  if (fs::exists(file)) {
    std::ifstream in(file);
    std::stringstream ss;
    ss << in.rdbuf();
    return parse_key(ss.str(), file.string());
  }
  const crypto::Bytes key = crypto::random_bytes(32);
  {
    const PrivateUmask private_files;  // the key file is born 0600, never readable by others
    std::ofstream out(file);
    out << crypto::to_hex(key) << "\n";
  }
  fs::permissions(file, fs::perms::owner_read | fs::perms::owner_write);
  return key;
}

std::map<std::string, std::string> DataDir::config() const {
  std::map<std::string, std::string> out;
  std::ifstream in(config_file());
  std::string line;
  while (std::getline(in, line)) {
    line = trim(line);
    if (line.empty() || line[0] == '#' || line[0] == ';' || line[0] == '[') continue;
    const auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    out[trim(line.substr(0, eq))] = trim(line.substr(eq + 1));
  }
  // Where fetched messages over 1 MB are received (unlinked files): the private data folder.
  out.try_emplace("spool_dir", root_.string());
  return out;
}

std::string now_iso() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace juniper
