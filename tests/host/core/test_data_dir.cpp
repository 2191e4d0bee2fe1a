// The data folder holds mail bodies, password hashes, the master key and the log: after a start
// the folder is 0700 and its files 0600, whether juniper created them or found them readable.
#include "app/host.hpp"
#include "core/data_dir.hpp"

#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <fstream>
#include <random>

namespace fs = std::filesystem;

namespace {

fs::path fresh_path(const std::string& what) {
  std::random_device rd;
  return fs::temp_directory_path() / ("juniper-" + what + "-" + std::to_string(rd()));
}

mode_t mode_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::lstat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The usual umask of an administrator's shell, whatever the test runner has.
struct Umask022 {
  mode_t old = ::umask(022);
  ~Umask022() { ::umask(old); }
};

std::unique_ptr<juniper::Host> start(const fs::path& dir) {
  juniper::HostOptions o;
  o.data_dir = dir;
  o.module_paths = {TEST_MODULES_DIR};
  auto h = std::make_unique<juniper::Host>(o);
  h->init();
  return h;
}

const char* const kPrivate[] = {"juniper.db", "juniper.db-wal", "juniper.db-shm", "juniper.log", "master.key"};

}  // namespace

TEST_CASE("a new data folder is 0700 and every file juniper creates in it 0600", "[data]") {
  const Umask022 umask;
  const fs::path dir = fresh_path("data-new");
  {
    auto h = start(dir);
    CHECK(mode_of(dir) == 0700);
    for (const char* f : kPrivate) {
      INFO(f);
      REQUIRE(fs::exists(dir / f));  // -wal and -shm exist while the database is open
      CHECK(mode_of(dir / f) == 0600);
    }
    CHECK(slurp(dir / "juniper.log").find("made private") == std::string::npos);
  }
  fs::remove_all(dir);
}

TEST_CASE("an existing data folder readable by others is made private at start, in one log line", "[data]") {
  const Umask022 umask;
  const fs::path dir = fresh_path("data-old");
  start(dir).reset();
  // As an older juniper or a careless copy left it.
  fs::permissions(dir, static_cast<fs::perms>(0755));
  for (const char* f : {"juniper.db", "juniper.log", "master.key"}) fs::permissions(dir / f, static_cast<fs::perms>(0644));
  std::ofstream(dir / "juniper.db-wal").close();
  fs::permissions(dir / "juniper.db-wal", static_cast<fs::perms>(0666));
  std::ofstream(dir / "juniper.conf") << "smtp_server = localhost\n";
  fs::permissions(dir / "juniper.conf", static_cast<fs::perms>(0644));
  fs::remove(dir / "juniper.db-shm");
  {
    auto h = start(dir);
    CHECK(mode_of(dir) == 0700);
    for (const char* f : kPrivate) {
      INFO(f);
      CHECK(mode_of(dir / f) == 0600);
    }
    CHECK(mode_of(dir / "juniper.conf") == 0644);  // the administrator's file: reported, not changed
  }
  const std::string log = slurp(dir / "juniper.log");
  INFO(log);
  CHECK(log.find("WARNING data: the data folder was readable by other users; made private: " + dir.string() +
                 " 0755 -> 0700, juniper.db 0644 -> 0600, juniper.db-wal 0666 -> 0600, juniper.log 0644 -> 0600, "
                 "master.key 0644 -> 0600\n") != std::string::npos);
  CHECK(log.find("WARNING data: " + (dir / "juniper.conf").string() + " is readable by group or others (mode 0644)") !=
        std::string::npos);
  CHECK(log.find("chmod 600 " + (dir / "juniper.conf").string()) != std::string::npos);
  fs::remove_all(dir);
}

TEST_CASE("what the data folder's files point to is left alone", "[data]") {
  const fs::path dir = fresh_path("data-links");
  const fs::path elsewhere = fresh_path("data-elsewhere");
  fs::create_directories(dir);
  fs::create_directories(elsewhere);
  std::ofstream(elsewhere / "shared.log").close();
  fs::permissions(elsewhere / "shared.log", static_cast<fs::perms>(0644));
  fs::create_symlink(elsewhere / "shared.log", dir / "juniper.log");
  const juniper::DataDir d(dir);
  CHECK(mode_of(elsewhere / "shared.log") == 0644);
  CHECK(mode_of(dir) == 0700);
  fs::remove_all(dir);
  fs::remove_all(elsewhere);
}

TEST_CASE("a shared sticky folder (like /tmp) as the data folder is reported, not closed", "[data]") {
  const fs::path dir = fresh_path("data-sticky");
  fs::create_directories(dir);
  fs::permissions(dir, static_cast<fs::perms>(01777));
  const juniper::DataDir d(dir);
  CHECK(mode_of(dir) == 01777);
  REQUIRE(d.permission_notes().size() == 1);
  CHECK(d.permission_notes()[0].find("is a shared folder (mode 1777)") != std::string::npos);
  fs::remove_all(dir);
}
