#include "core/data_dir.hpp"

#include "core/errors.hpp"

#include <sys/stat.h>

#include <chrono>
#include <cstdlib>
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
    throw UserError(origin + " must hold a 32-byte key (64 hex digits or base64); create a new one with "
                             "`openssl rand -hex 32`");
  }
  return key;
}
}  // namespace

DataDir::DataDir(fs::path root) : root_(std::move(root)) {
  std::error_code ec;
  if (!fs::exists(root_)) {
    fs::create_directories(root_, ec);
    if (ec) throw UserError("cannot create the data folder " + root_.string() + ": " + ec.message());
    fs::permissions(root_, fs::perms::owner_all, ec);
  }
}

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
  const mode_t old = ::umask(077);  // the key file is born 0600, never readable by others
  {
    std::ofstream out(file);
    out << crypto::to_hex(key) << "\n";
  }
  ::umask(old);
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
