#include "mailstack.hpp"

#include <curl/curl.h>
#include <time.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

namespace juniper::test {
namespace fs = std::filesystem;

namespace {
std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
}  // namespace

MailStack& MailStack::get() {
  static MailStack stack;
  return stack;
}

MailStack::MailStack() {
  if (const char* d = std::getenv("JUNIPER_MAILSTACK_DIR"); d != nullptr && *d != '\0') {
    dir = d;
  } else {
    std::random_device rd;
    dir = (fs::temp_directory_path() / ("juniper-mail-" + std::to_string(rd()))).string();
    const char* base = std::getenv("JUNIPER_TEST_MAIL_PORT_BASE");
    const std::string cmd = "bash " JUNIPER_SOURCE_DIR "/tests/mailstack/start.sh " + dir + " " +
                            (base != nullptr && *base != '\0' ? base : "auto") + " >/dev/null";
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("cannot start the mail stack: " + cmd);
    owned_ = true;
  }
  std::ifstream in(fs::path(dir) / "env");
  std::string line;
  while (std::getline(in, line)) {
    const auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string v = line.substr(eq + 1);
    if (v.size() >= 2 && (v.front() == '\'' || v.front() == '"')) v = v.substr(1, v.size() - 2);
    env[line.substr(0, eq)] = v;
  }
  idp("/_control/register_app",
      R"({"client_id":"juniper-test","client_secret":"test-secret","redirect_uri":"http://127.0.0.1:8069/microsoft_outlook/confirm","tenant":"multi"})");
}

MailStack::~MailStack() {
  if (owned_) {
    const std::string cmd = "bash " JUNIPER_SOURCE_DIR "/tests/mailstack/stop.sh " + dir + " >/dev/null 2>&1";
    if (std::system(cmd.c_str()) == 0) fs::remove_all(dir);
  }
}

void MailStack::run(const std::string& script_and_args) const {
  const auto sp = script_and_args.find(' ');
  const std::string script = script_and_args.substr(0, sp);
  const std::string args = sp == std::string::npos ? "" : script_and_args.substr(sp);
  const std::string cmd = "bash " JUNIPER_SOURCE_DIR "/tests/mailstack/" + script + " " + dir + args + " >/dev/null 2>&1";
  if (std::system(cmd.c_str()) != 0) throw std::runtime_error("failed: " + cmd);
}

void MailStack::add_user(const std::string& email, const std::string& password) const {
  run("adduser.sh " + email + " " + password);
  struct timespec ts {
    1, 200 * 1000 * 1000
  };
  nanosleep(&ts, nullptr);
}

int MailStack::smtp_connections() const {
  const std::string log = slurp(env.at("POSTFIX_LOG"));
  int n = 0;
  for (std::size_t p = 0; (p = log.find("]: connect from", p)) != std::string::npos; ++p) ++n;
  return n;
}

std::vector<std::string> MailStack::mailbox(const std::string& address) const {
  std::vector<std::string> out;
  const fs::path root = fs::path(env.at("MAILDIR_ROOT")) / address / "Maildir";
  for (const char* sub : {"new", "cur"}) {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(root / sub, ec)) out.push_back(slurp(e.path()));
  }
  return out;
}

std::size_t MailStack::count(const std::string& address) const {
  std::size_t n = 0;
  const fs::path root = fs::path(env.at("MAILDIR_ROOT")) / address / "Maildir";
  for (const char* sub : {"new", "cur"}) {
    std::error_code ec;
    for (fs::directory_iterator it(root / sub, ec), end; !ec && it != end; it.increment(ec)) ++n;
  }
  return n;
}

void MailStack::deliver(const std::string& address, const std::string& raw) const {
  const fs::path root = fs::path(env.at("MAILDIR_ROOT")) / address / "Maildir";
  for (const char* sub : {"new", "cur", "tmp"}) fs::create_directories(root / sub);
  static int seq = 0;
  const std::string name =
      std::to_string(::time(nullptr)) + ".juniper" + std::to_string(::getpid()) + "_" + std::to_string(++seq) + ".test";
  {
    std::ofstream out(root / "tmp" / name, std::ios::binary);
    out << raw;
  }
  fs::rename(root / "tmp" / name, root / "new" / name);
  // Dovecot runs as the `mail` user: the mailbox must be its.
  const std::string cmd = "chown -R mail:mail " + (fs::path(env.at("MAILDIR_ROOT")) / address).string();
  if (std::system(cmd.c_str()) != 0) throw std::runtime_error("chown failed");
}

std::string MailStack::idp(const std::string& path, const std::string& json) const {
  CURL* c = curl_easy_init();
  std::string body;
  const std::string url = env.at("IDP_URL") + path;
  curl_slist* h = curl_slist_append(nullptr, "Content-Type: application/json");
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  if (!json.empty()) curl_easy_setopt(c, CURLOPT_POSTFIELDS, json.c_str());
  curl_easy_setopt(
      c, CURLOPT_WRITEFUNCTION, +[](char* p, size_t s, size_t n, void* u) {
        static_cast<std::string*>(u)->append(p, s * n);
        return s * n;
      });
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
  const CURLcode rc = curl_easy_perform(c);
  curl_slist_free_all(h);
  curl_easy_cleanup(c);
  if (rc != CURLE_OK) throw std::runtime_error("identity platform not reachable: " + url);
  return body;
}

}  // namespace juniper::test
