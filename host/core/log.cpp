#include "core/log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace juniper::log {
namespace {

using TimePoint = std::chrono::steady_clock::time_point;
constexpr std::size_t kMaxTracked = 256;  // distinct lines remembered for the repeat limit

struct Repeat {
  Level level;
  std::string source;
  std::string message;
  TimePoint start;
  unsigned seen = 0;
  unsigned long long suppressed = 0;
};

struct Sink {
  std::mutex mu;
  int fd = -1;
  std::string path;
  bool opened = false;  // open() was called (whether or not the file could be opened)
  bool to_stderr = false;
  Clock clock;
  std::map<std::string, Repeat> repeats;  // by level, source and message
  std::optional<TimePoint> last_notice;
  ~Sink();
};

const char* name(Level l) {
  switch (l) {
    case Level::debug:
      return "DEBUG";
    case Level::info:
      return "INFO";
    case Level::warning:
      return "WARNING";
    case Level::error:
      return "ERROR";
  }
  return "?";
}

TimePoint now(const Sink& s) { return s.clock ? s.clock() : std::chrono::steady_clock::now(); }

std::string stamp() {
  const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// One event, one line: control characters from outside (a login name, a server's reply) are
// escaped so nobody can forge log lines; and a huge value (a 20 MB login name) is cut.
std::string clean(std::string_view message) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  std::size_t i = 0;
  for (; i < message.size() && out.size() < kMaxMessageBytes; ++i) {
    const char c = message[i];
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u != 0x7f) {
      out.push_back(c);
    } else {
      out += c == '\n' ? "\\n" : c == '\r' ? "\\r" : c == '\t' ? "\\t" : std::string{'\\', 'x', hex[u >> 4], hex[u & 15]};
    }
  }
  if (i == message.size()) return out;
  // Not in the middle of a UTF-8 character (bytes >= 0x80 are copied one for one).
  for (int k = 0; k < 3 && i > 0 && (static_cast<unsigned char>(message[i]) & 0xC0) == 0x80; ++k) {
    --i;
    out.pop_back();
  }
  return out + "\xE2\x80\xA6 (" + std::to_string(message.size() - i) + " bytes cut)";
}

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) errno = EIO;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// The log file failed (or could not be opened): say so on stderr, once per kNoticeInterval.
void notice(Sink& s, int err, TimePoint t) {
  if (s.last_notice && t - *s.last_notice < kNoticeInterval) return;
  s.last_notice = t;
  const std::string line = stamp() + " ERROR log: cannot write the log file " + s.path + ": " + std::strerror(err) +
                           "; log lines go to stderr until it can be written\n";
  write_all(STDERR_FILENO, line);
}

void emit(Sink& s, Level level, std::string_view source, std::string_view message, TimePoint t) {
  const std::string line = stamp() + " " + name(level) + " " + std::string(source) + ": " + std::string(message) + "\n";
  bool in_file = false;
  if (s.fd >= 0) {
    in_file = write_all(s.fd, line);
    if (!in_file) notice(s, errno, t);  // errno of the failed write
  } else if (s.opened) {
    notice(s, EBADF, t);
  }
  // Never lost: a line the file did not take goes to stderr.
  if (s.to_stderr || (s.opened && !in_file) || (!s.opened && level >= Level::warning)) write_all(STDERR_FILENO, line);
}

void summarise(Sink& s, const Repeat& r, TimePoint t) {
  if (r.suppressed == 0) return;
  emit(s, r.level, r.source,
       r.message + " [repeated " + std::to_string(r.suppressed) + " more times in " + std::to_string(kRepeatInterval.count()) +
           " s]",
       t);
}

// Closes the repeat windows that are over (all of them when `all`), writing their counts.
void expire(Sink& s, TimePoint t, bool all) {
  for (auto it = s.repeats.begin(); it != s.repeats.end();) {
    if (all || t - it->second.start >= kRepeatInterval) {
      summarise(s, it->second, t);
      it = s.repeats.erase(it);
    } else {
      ++it;
    }
  }
}

Sink::~Sink() {
  clock = nullptr;  // a test's clock may be gone by now
  expire(*this, std::chrono::steady_clock::now(), true);
  if (fd >= 0) ::close(fd);
}

Sink& sink() {
  static Sink s;
  return s;
}

}  // namespace

void open(const std::filesystem::path& file, bool also_stderr) {
  auto& s = sink();
  std::lock_guard lock(s.mu);
  expire(s, now(s), true);
  if (s.fd >= 0) ::close(s.fd);
  // 0600 from birth: the log names logins, addresses and servers.
  s.fd = ::open(file.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  const int open_error = errno;
  s.path = file.string();
  s.opened = true;
  s.to_stderr = also_stderr;
  s.last_notice.reset();
  if (s.fd < 0) notice(s, open_error, now(s));
}

void write(Level level, std::string_view source, std::string_view message) {
  const std::string text = clean(message);
  auto& s = sink();
  std::lock_guard lock(s.mu);
  const TimePoint t = now(s);
  expire(s, t, false);
  std::string key = std::string(name(level)) + '\0' + std::string(source) + '\0' + text;
  auto it = s.repeats.find(key);
  if (it == s.repeats.end()) {
    if (s.repeats.size() >= kMaxTracked) expire(s, t, true);
    it = s.repeats.emplace(std::move(key), Repeat{level, std::string(source), text, t}).first;
  }
  Repeat& r = it->second;
  if (++r.seen <= kRepeatsShown) {
    emit(s, level, source, text, t);
  } else {
    ++r.suppressed;
  }
}

void flush() {
  auto& s = sink();
  std::lock_guard lock(s.mu);
  expire(s, now(s), true);
}

void set_clock(Clock clock) {
  auto& s = sink();
  std::lock_guard lock(s.mu);
  s.clock = std::move(clock);
}

}  // namespace juniper::log
