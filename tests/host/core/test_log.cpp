// The log under abuse: huge values are cut, storms of one line are counted instead of written,
// and a log file that cannot be written sends the lines to stderr. Time is the test's clock.
#include "core/log.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <random>
#include <sstream>

namespace fs = std::filesystem;
namespace jlog = juniper::log;
using namespace std::chrono_literals;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto p = text.find(what); p != std::string::npos; p = text.find(what, p + what.size())) ++n;
  return n;
}

// A log file of its own and a clock the test moves; the real clock is back afterwards.
struct LogSite {
  fs::path dir;
  fs::path file;
  std::chrono::steady_clock::time_point now{};
  LogSite() {
    std::random_device rd;
    dir = fs::temp_directory_path() / ("juniper-log-" + std::to_string(rd()));
    fs::create_directories(dir);
    file = dir / "juniper.log";
    jlog::set_clock([this] { return now; });
    jlog::open(file, false);
  }
  ~LogSite() {
    jlog::open(dir / "after.log", false);  // pending counts of the test stay in its file
    jlog::set_clock({});
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  std::string text() const { return slurp(file); }
};

// stderr (fd 2) into a file while it lives.
struct CaptureStderr {
  fs::path file;
  int saved = -1;
  explicit CaptureStderr(fs::path f) : file(std::move(f)) {
    saved = ::dup(STDERR_FILENO);
    const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(fd, STDERR_FILENO);
    ::close(fd);
  }
  ~CaptureStderr() { restore(); }
  void restore() {
    if (saved < 0) return;
    ::dup2(saved, STDERR_FILENO);
    ::close(saved);
    saved = -1;
  }
  std::string text() const { return slurp(file); }
};

}  // namespace

TEST_CASE("a log line is one line, with control characters escaped", "[log]") {
  LogSite s;
  jlog::warning("web", "failed login for 'x\r\n2026-01-01T00:00:00Z INFO web: forged\x1b[31m'");
  const auto lines = lines_of(s.text());
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].ends_with(" WARNING web: failed login for 'x\\r\\n2026-01-01T00:00:00Z INFO web: forged\\x1b[31m'"));
}

TEST_CASE("a huge value is cut, saying how much", "[log]") {
  LogSite s;
  SECTION("a 20 MB login name") {
    const std::string login(20'000'000, 'a');
    jlog::warning("web", "failed login for '" + login + "'");
    const auto lines = lines_of(s.text());
    REQUIRE(lines.size() == 1);
    CHECK(lines[0].size() < jlog::kMaxMessageBytes + 100);
    CHECK(lines[0].find(" WARNING web: failed login for '") != std::string::npos);
    const std::size_t cut = 18 + login.size() + 1 - jlog::kMaxMessageBytes;
    CHECK(lines[0].ends_with("'" + std::string(jlog::kMaxMessageBytes - 18, 'a') + "\xE2\x80\xA6 (" + std::to_string(cut) +
                             " bytes cut)"));
  }
  SECTION("never inside a UTF-8 character") {
    std::string msg = "x";
    for (int i = 0; i < 1500; ++i) msg += "\xC3\xA9";  // é: byte 2000 is its second half
    jlog::info("mail", msg);
    const auto lines = lines_of(s.text());
    REQUIRE(lines.size() == 1);
    CHECK(lines[0].ends_with("\xC3\xA9\xE2\x80\xA6 (1002 bytes cut)"));
  }
  SECTION("escaped characters count at their escaped size") {
    jlog::info("imap", std::string(3000, '\x01'));
    const auto lines = lines_of(s.text());
    REQUIRE(lines.size() == 1);
    CHECK(count(lines[0], "\\x01") == 500);
    CHECK(lines[0].ends_with("(2500 bytes cut)"));
  }
  SECTION("a message at the limit is kept whole") {
    jlog::info("imap", std::string(jlog::kMaxMessageBytes, 'b'));
    CHECK(s.text().ends_with(": " + std::string(jlog::kMaxMessageBytes, 'b') + "\n"));
  }
}

TEST_CASE("the same line in a storm is written a few times per interval, then counted", "[log]") {
  LogSite s;
  for (int i = 0; i < 100'000; ++i) {
    jlog::error("http", "accept failed: Too many open files");
    if (i == 50) jlog::info("http", "something else");  // other lines still get through
  }
  std::string text = s.text();
  CHECK(count(text, "accept failed: Too many open files") == jlog::kRepeatsShown);
  CHECK(count(text, "something else") == 1);
  CHECK(count(text, "repeated") == 0);

  s.now += jlog::kRepeatInterval - 1s;  // still inside the interval
  jlog::error("http", "accept failed: Too many open files");
  CHECK(count(s.text(), "accept failed") == jlog::kRepeatsShown);

  s.now += 1s;  // the interval is over: one line with the count, then the line again
  jlog::error("http", "accept failed: Too many open files");
  const auto lines = lines_of(s.text());
  REQUIRE(lines.size() == jlog::kRepeatsShown + 3);
  const std::size_t suppressed = 100'000 + 1 - jlog::kRepeatsShown;
  CHECK(lines[lines.size() - 2].ends_with("ERROR http: accept failed: Too many open files [repeated " +
                                          std::to_string(suppressed) + " more times in 10 s]"));
  CHECK(lines.back().ends_with("ERROR http: accept failed: Too many open files"));

  SECTION("the same message from another component or at another level is another line") {
    jlog::error("smtp", "accept failed: Too many open files");
    jlog::warning("http", "accept failed: Too many open files");
    CHECK(count(s.text(), "smtp: accept failed") == 1);
    CHECK(count(s.text(), "WARNING http: accept failed") == 1);
  }
  SECTION("a count still pending is written by flush") {
    for (int i = 0; i < 10; ++i) jlog::error("http", "accept failed: Too many open files");
    jlog::flush();
    CHECK(s.text().ends_with("[repeated " + std::to_string(10 + 1 - jlog::kRepeatsShown) + " more times in 10 s]\n"));
  }
}

TEST_CASE("opening another log file writes the pending counts into the previous one", "[log]") {
  LogSite s;
  for (int i = 0; i < 8; ++i) jlog::info("mail", "queue is empty");
  jlog::open(s.dir / "second.log", false);
  CHECK(count(s.text(), "queue is empty [repeated 3 more times") == 1);
  jlog::info("mail", "queue is empty");  // a fresh start in the new file
  CHECK(count(slurp(s.dir / "second.log"), "queue is empty") == 1);
}

TEST_CASE("a new log file is created 0600", "[log]") {
  LogSite s;
  const mode_t old = ::umask(022);
  jlog::open(s.dir / "new.log", false);
  ::umask(old);
  jlog::info("core", "hello");
  struct stat st {};
  REQUIRE(::stat((s.dir / "new.log").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
}

TEST_CASE("a log file that cannot be written sends the lines to stderr, with a notice per interval", "[log]") {
  LogSite s;
  CaptureStderr err(s.dir / "stderr");
  SECTION("a full disk (/dev/full)") {
    jlog::open("/dev/full", false);
    jlog::info("mail", "sent 3 mails");
    jlog::info("mail", "fetched 2 mails");
    s.now += jlog::kNoticeInterval - 1s;
    jlog::warning("smtp", "server said 421");
    err.restore();
    std::string text = err.text();
    INFO(text);
    CHECK(count(text, "INFO mail: sent 3 mails") == 1);
    CHECK(count(text, "INFO mail: fetched 2 mails") == 1);
    CHECK(count(text, "WARNING smtp: server said 421") == 1);
    CHECK(count(text, "cannot write the log file /dev/full: No space left on device") == 1);

    CaptureStderr again(s.dir / "stderr2");
    s.now += 1s;  // a new interval: the notice again
    jlog::info("mail", "sent 1 mail");
    again.restore();
    text = again.text();
    CHECK(count(text, "cannot write the log file /dev/full") == 1);
    CHECK(count(text, "INFO mail: sent 1 mail") == 1);
  }
  SECTION("a log file that cannot be opened") {
    jlog::open(s.dir / "no-such-folder" / "juniper.log", false);
    jlog::info("core", "started");
    err.restore();
    const std::string text = err.text();
    INFO(text);
    CHECK(count(text, "no-such-folder/juniper.log: No such file or directory") == 1);
    CHECK(count(text, "INFO core: started") == 1);
  }
  SECTION("a log file that can be written sends nothing to stderr") {
    jlog::info("core", "started");
    err.restore();
    CHECK(err.text().empty());
    CHECK(count(s.text(), "INFO core: started") == 1);
  }
}
