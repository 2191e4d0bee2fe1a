#include "core/log.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>
#include <fstream>
#include <iostream>
#include <mutex>

namespace juniper::log {
namespace {
struct Sink {
  std::mutex mu;
  std::ofstream file;
  bool to_stderr = false;
};
Sink& sink() {
  static Sink s;
  return s;
}
const char* name(Level l) {
  switch (l) {
    case Level::debug: return "DEBUG";
    case Level::info: return "INFO";
    case Level::warning: return "WARNING";
    case Level::error: return "ERROR";
  }
  return "?";
}
}  // namespace

void open(const std::filesystem::path& file, bool also_stderr) {
  auto& s = sink();
  std::lock_guard lock(s.mu);
  s.file.close();
  s.file.open(file, std::ios::app);
  s.to_stderr = also_stderr;
}

void write(Level level, std::string_view source, std::string_view message) {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&now, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
  std::string line = std::string(stamp) + " " + name(level) + " " + std::string(source) + ": ";
  // One event, one line: control characters from outside (a login name, a server's reply) are
  // escaped so nobody can forge log lines.
  for (const char c : message) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u != 0x7f) {
      line.push_back(c);
    } else {
      static constexpr char hex[] = "0123456789abcdef";
      line += c == '\n' ? "\\n" : c == '\r' ? "\\r" : c == '\t' ? "\\t" : std::string{'\\', 'x', hex[u >> 4], hex[u & 15]};
    }
  }
  line.push_back('\n');
  auto& s = sink();
  std::lock_guard lock(s.mu);
  if (s.file.is_open()) s.file << line << std::flush;
  if (s.to_stderr || (!s.file.is_open() && level >= Level::warning)) std::cerr << line;
}

}  // namespace juniper::log
