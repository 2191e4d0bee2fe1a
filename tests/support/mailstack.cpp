#include "mailstack.hpp"

#include <curl/curl.h>
#include <pwd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string_view>

namespace juniper::test {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";  // end the quote, an escaped quote, quote again
    else
      out += c;
  }
  return out + "'";
}

std::string script(const std::string& name) { return shell_quote(JUNIPER_SOURCE_DIR "/tests/mailstack/" + name); }

// Runs a shell command; throws with its exit status unless it succeeded.
void shell(const std::string& command) {
  std::fflush(nullptr);  // our output before the command's
  const int rc = std::system(command.c_str());
  if (rc != 0) {
    const int status = rc != -1 && WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
    throw std::runtime_error("command failed (exit " + std::to_string(status) + "): " + command);
  }
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : fallback;
}

// DIR/env: KEY=VALUE lines, a value quoted only when the shell needs it (ours never do).
std::map<std::string, std::string> read_env(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::map<std::string, std::string> env;
  std::string line;
  while (std::getline(in, line)) {
    const auto eq = line.find('=');
    if (line.empty() || line[0] == '#' || eq == std::string::npos) continue;
    std::string v = line.substr(eq + 1);
    if (v.size() >= 2 && (v.front() == '\'' || v.front() == '"')) v = v.substr(1, v.size() - 2);
    env[line.substr(0, eq)] = v;
  }
  return env;
}

// Stops the stack in `dir` once this process is gone, however it ends (exit, crash, Ctrl-C,
// ctest's timeout): the watchdog shell waits for the end of a pipe only this process writes to.
// setsid takes it out of our process group, so a Ctrl-C does not end it with the tests.
std::FILE* start_watchdog(const std::string& dir) {
  const std::string stop =
      "MAILSTACK_QUIET=1 bash " + script("stop.sh") + " " + shell_quote(dir) + "; rm -rf " + shell_quote(dir);
  const std::string cmd = "exec setsid -w bash -c " + shell_quote("cat >/dev/null; " + stop) + " >/dev/null 2>&1";
  std::FILE* pipe = ::popen(cmd.c_str(), "we");  // e: close-on-exec, so no daemon we start holds the pipe open
  if (pipe == nullptr) throw std::runtime_error("cannot start the mail stack's watchdog");
  return pipe;
}

// A libcurl handle with what it points to, freed together.
struct Curl {
  CURL* h = curl_easy_init();
  curl_slist* list = nullptr;
  Curl() {
    if (h == nullptr) throw std::runtime_error("curl_easy_init failed");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 20L);
  }
  ~Curl() {
    curl_slist_free_all(list);
    curl_easy_cleanup(h);
  }
  Curl(const Curl&) = delete;
  Curl& operator=(const Curl&) = delete;
};

std::size_t append_to(char* p, std::size_t size, std::size_t n, void* out) {
  static_cast<std::string*>(out)->append(p, size * n);
  return size * n;
}

std::size_t discard(char*, std::size_t size, std::size_t n, void*) { return size * n; }

std::size_t read_from(char* buffer, std::size_t size, std::size_t n, void* in) {
  auto* rest = static_cast<std::string_view*>(in);
  const std::size_t len = std::min(rest->size(), size * n);
  rest->copy(buffer, len);
  rest->remove_prefix(len);
  return len;
}

// Dovecot runs as the `mail` user: a maildir and its files must be its.
struct MailOwner {
  uid_t uid;
  gid_t gid;
};

MailOwner mail_owner() {
  const passwd* pw = ::getpwnam("mail");
  if (pw == nullptr) throw std::runtime_error("no 'mail' user on this system");
  return {pw->pw_uid, pw->pw_gid};
}

void own(const fs::path& p, const MailOwner& owner) {
  if (::chown(p.c_str(), owner.uid, owner.gid) != 0) throw std::runtime_error("cannot chown " + p.string());
}

void make_maildir(const fs::path& maildir, const MailOwner& owner) {
  for (const fs::path& d : {maildir.parent_path(), maildir, maildir / "new", maildir / "cur", maildir / "tmp"}) {
    if (fs::create_directory(d)) fs::permissions(d, fs::perms::owner_all);
    own(d, owner);
  }
}

// Dovecot numbers new files in the order of their names' time stamp, then of the M field.
std::string maildir_file_name() {
  static std::atomic<unsigned> n{0};
  return std::to_string(std::time(nullptr)) + ".M" + std::to_string(++n) + "P" + std::to_string(::getpid()) + ".juniper-test";
}

std::size_t count_files(const fs::path& dir) {
  std::size_t n = 0;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) ++n;
  return n;
}

}  // namespace

MailStack& MailStack::get() {
  static MailStack stack;
  return stack;
}

MailStack::MailStack() {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  dir_ = env_or("JUNIPER_MAILSTACK_DIR", "");
  if (dir_.empty()) start();
  env_ = read_env(dir_ + "/env");
  register_test_apps();
}

// The watchdog stops the stack when the pipe closes; pclose waits until it has.
MailStack::~MailStack() {
  if (watchdog_ != nullptr) ::pclose(watchdog_);
}

void MailStack::start() {
  char dir[] = "/tmp/juniper-mail-XXXXXX";
  if (::mkdtemp(dir) == nullptr) throw std::runtime_error("mkdtemp failed");
  dir_ = dir;
  const std::string base = env_or("JUNIPER_TEST_MAIL_PORT_BASE", "auto");  // auto: start.sh claims a free one
  // PLAIN_IMAP=1 also opens PORT_BASE+143, for the IMAP suite's STARTTLS test.
  const std::string cmd = "PLAIN_IMAP=1 MAILSTACK_QUIET=1 bash " + script("start.sh") + " " + shell_quote(dir_) + " " +
                          shell_quote(base) + " </dev/null >/dev/null";
  try {
    shell(cmd);
  } catch (const std::exception& e) {
    fs::remove_all(dir_);
    throw std::runtime_error(std::string(e.what()) + " (port base " + base +
                             "; set JUNIPER_TEST_MAIL_PORT_BASE to another, or JUNIPER_MAILSTACK_DIR to a running stack)");
  }
  watchdog_ = start_watchdog(dir_);
}

// "juniper-test" is the app the Outlook suites configure; "c1" issues the protocol suites' tokens.
void MailStack::register_test_apps() const {
  idp("/_control/register_app",
      R"({"client_id":"juniper-test","client_secret":"test-secret","redirect_uri":"http://127.0.0.1:8069/microsoft_outlook/confirm","tenant":"multi"})");
  idp("/_control/register_app", R"({"client_id":"c1","client_secret":"s1","redirect_uri":"https://x/cb","tenant":"multi"})");
}

std::string MailStack::operator[](const std::string& key) const {
  const auto it = env_.find(key);
  if (it == env_.end()) throw std::out_of_range("no " + key + " in " + dir_ + "/env");
  return it->second;
}

int MailStack::port(const std::string& key) const {
  const std::string v = (*this)[key];
  return v.empty() ? 0 : std::stoi(v);
}

void MailStack::run(const std::string& script_and_args) const {
  const auto space = script_and_args.find(' ');
  const std::string args = space == std::string::npos ? "" : script_and_args.substr(space);
  shell("MAILSTACK_QUIET=1 bash " + script(script_and_args.substr(0, space)) + " " + shell_quote(dir_) + args +
        " </dev/null >/dev/null 2>&1");
}

void MailStack::add_user(const std::string& address, const std::string& password) const {
  run("adduser.sh " + shell_quote(address) + " " + shell_quote(password));
  // Dovecot looks at its users file again only in a later second than its last look: until
  // then a login with the new password is refused.
  if (!eventually([&] { return accepts_login(address, password); }, 10s))
    throw std::runtime_error("Dovecot does not accept the password of " + address);
}

// An IMAPS login and a NOOP: no mailbox is opened, so none is created.
bool MailStack::accepts_login(const std::string& address, const std::string& password) const {
  Curl c;
  const std::string url = "imaps://127.0.0.1:" + (*this)["IMAPS_PORT"] + "/";
  const std::string ca = (*this)["CA_FILE"];
  curl_easy_setopt(c.h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c.h, CURLOPT_CAINFO, ca.c_str());
  curl_easy_setopt(c.h, CURLOPT_USERNAME, address.c_str());
  curl_easy_setopt(c.h, CURLOPT_PASSWORD, password.c_str());
  curl_easy_setopt(c.h, CURLOPT_CUSTOMREQUEST, "NOOP");
  curl_easy_setopt(c.h, CURLOPT_WRITEFUNCTION, &discard);
  return curl_easy_perform(c.h) == CURLE_OK;
}

std::string MailStack::idp(const std::string& path, const std::string& json) const {
  Curl c;
  std::string body;
  const std::string url = (*this)["IDP_URL"] + path;
  c.list = curl_slist_append(nullptr, "Content-Type: application/json");
  curl_easy_setopt(c.h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c.h, CURLOPT_HTTPHEADER, c.list);
  if (!json.empty()) curl_easy_setopt(c.h, CURLOPT_POSTFIELDS, json.c_str());
  curl_easy_setopt(c.h, CURLOPT_WRITEFUNCTION, &append_to);
  curl_easy_setopt(c.h, CURLOPT_WRITEDATA, &body);
  const CURLcode rc = curl_easy_perform(c.h);
  long status = 0;
  curl_easy_getinfo(c.h, CURLINFO_RESPONSE_CODE, &status);
  if (rc != CURLE_OK || status / 100 != 2)
    throw std::runtime_error("identity platform: " + url + ": " + curl_easy_strerror(rc) + ", HTTP " + std::to_string(status) +
                             " " + body);
  return body;
}

std::string MailStack::smtp_token(const std::string& user) const {
  return access_token(user, "https://outlook.office.com/SMTP.Send offline_access");
}

std::string MailStack::imap_token(const std::string& user) const {
  return access_token(user, "offline_access https://outlook.office.com/IMAP.AccessAsUser.All");
}

std::string MailStack::access_token(const std::string& user, const std::string& scope) const {
  const nlohmann::json request = {{"client_id", "c1"}, {"user", user}, {"scope", scope}};
  return nlohmann::json::parse(idp("/_control/issue_tokens", request.dump())).at("access_token").get<std::string>();
}

fs::path MailStack::maildir(const std::string& address) const { return fs::path((*this)["MAILDIR_ROOT"]) / address / "Maildir"; }

std::vector<std::string> MailStack::mailbox(const std::string& address) const {
  std::vector<std::string> texts;
  for (const char* sub : {"new", "cur"}) {
    std::error_code ec;
    for (fs::directory_iterator it(maildir(address) / sub, ec), end; !ec && it != end; it.increment(ec))
      texts.push_back(read_file(it->path()));
  }
  return texts;
}

std::size_t MailStack::count(const std::string& address) const {
  return count_files(maildir(address) / "new") + count_files(maildir(address) / "cur");
}

std::vector<std::string> MailStack::wait_for_mail(const std::string& address, std::size_t n,
                                                  std::chrono::milliseconds timeout) const {
  eventually([&] { return count(address) >= n; }, timeout);
  return mailbox(address);
}

// Written in tmp/, owned by Dovecot's user, then renamed into new/: Dovecot never sees half a file.
void MailStack::deliver(const std::string& address, const std::string& raw) const {
  const MailOwner owner = mail_owner();
  const fs::path md = maildir(address);
  make_maildir(md, owner);
  const std::string name = maildir_file_name();
  {
    std::ofstream out(md / "tmp" / name, std::ios::binary);
    out.write(raw.data(), static_cast<std::streamsize>(raw.size()));
    if (!out) throw std::runtime_error("cannot write " + (md / "tmp" / name).string());
  }
  fs::permissions(md / "tmp" / name, fs::perms::owner_read | fs::perms::owner_write);
  own(md / "tmp" / name, owner);
  fs::rename(md / "tmp" / name, md / "new" / name);
}

void MailStack::submit(const std::string& to, const std::string& raw) const {
  const std::size_t before = count(to);
  send_as_alice(to, raw);
  if (!eventually([&] { return count(to) > before; }, 20s))
    throw std::runtime_error("the message to " + to + " was not delivered within 20 s");
}

void MailStack::send_as_alice(const std::string& to, const std::string& raw) const {
  Curl c;
  std::string_view rest = raw;
  const std::string url = "smtp://127.0.0.1:" + (*this)["SMTP_PORT"];
  const std::string ca = (*this)["CA_FILE"];
  c.list = curl_slist_append(nullptr, ("<" + to + ">").c_str());
  curl_easy_setopt(c.h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c.h, CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_ALL));
  curl_easy_setopt(c.h, CURLOPT_CAINFO, ca.c_str());
  curl_easy_setopt(c.h, CURLOPT_USERNAME, "alice@example.com");
  curl_easy_setopt(c.h, CURLOPT_PASSWORD, "alice-password");
  curl_easy_setopt(c.h, CURLOPT_MAIL_FROM, "<alice@example.com>");
  curl_easy_setopt(c.h, CURLOPT_MAIL_RCPT, c.list);
  curl_easy_setopt(c.h, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(c.h, CURLOPT_READFUNCTION, &read_from);
  curl_easy_setopt(c.h, CURLOPT_READDATA, &rest);
  const CURLcode rc = curl_easy_perform(c.h);
  if (rc != CURLE_OK) throw std::runtime_error("SMTP submission to " + to + " failed: " + curl_easy_strerror(rc));
}

std::uintmax_t MailStack::postfix_log_mark() const {
  std::error_code ec;
  const auto size = fs::file_size((*this)["POSTFIX_LOG"], ec);
  return ec ? 0 : size;
}

std::string MailStack::postfix_log_since(std::uintmax_t mark) const {
  std::ifstream in((*this)["POSTFIX_LOG"], std::ios::binary);
  in.seekg(static_cast<std::streamoff>(mark));
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

bool MailStack::wait_for_postfix_log(std::uintmax_t mark, const std::string& needle, std::chrono::milliseconds timeout) const {
  return eventually([&] { return postfix_log_since(mark).find(needle) != std::string::npos; }, timeout);
}

int MailStack::smtp_connections() const {
  const std::string log = read_file((*this)["POSTFIX_LOG"]);
  int n = 0;
  for (std::size_t p = 0; (p = log.find("]: connect from", p)) != std::string::npos; ++p) ++n;
  return n;
}

long MailStack::message_size_limit() const {
  std::ifstream in((*this)["POSTFIX_CONFIG_DIR"] + "/main.cf");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("message_size_limit", 0) == 0) return std::stol(line.substr(line.find('=') + 1));
  return 10240000;  // Postfix's default
}

std::string unique_address(const std::string& prefix) {
  static std::atomic<int> n{0};
  return prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(++n) + "@example.com";
}

std::string test_message(const std::string& from, const std::string& to, const std::string& subject, std::size_t size) {
  const std::string id = unique_address("m");
  std::string m = "From: <" + from + ">\r\nTo: <" + to + ">\r\nSubject: " + subject + "\r\nMessage-ID: <" +
                  id.substr(0, id.find('@')) + "@juniper.test>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\n" +
                  "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n";
  m += ".leading dot line\r\n";  // SMTP's dot-stuffing must keep it
  static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::size_t k = 0;
  while (m.size() + 78 < size) {
    for (int i = 0; i < 76; ++i) m.push_back(alphabet[(k++ * 7 + static_cast<std::size_t>(i)) % 64]);
    m += "\r\n";
  }
  return m + "end\r\n";
}

}  // namespace juniper::test
