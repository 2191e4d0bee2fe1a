#include "mailstack.hpp"

#include <curl/curl.h>
#include <dirent.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <thread>

#ifndef JUNIPER_SOURCE_DIR
#error "JUNIPER_SOURCE_DIR must name the source tree"
#endif

namespace juniper::test {

namespace {

std::unique_ptr<MailStack> g_stack;

std::string scripts() { return std::string(JUNIPER_SOURCE_DIR) + "/tests/mailstack"; }

struct MailIds {
  uid_t uid;
  gid_t gid;
};

MailIds mail_ids() {
  const passwd* pw = ::getpwnam("mail");
  if (!pw) throw std::runtime_error("no 'mail' user on this system");
  return {pw->pw_uid, pw->pw_gid};
}

void mkdir_owned(const std::string& path, const MailIds& ids) {
  if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST)
    throw std::runtime_error("mkdir " + path + ": " + std::strerror(errno));
  if (::chown(path.c_str(), ids.uid, ids.gid) != 0) throw std::runtime_error("chown " + path + ": " + std::strerror(errno));
}

size_t collect(char* p, size_t s, size_t n, void* u) {
  static_cast<std::string*>(u)->append(p, s * n);
  return s * n;
}

std::size_t count_files(const std::string& dir) {
  std::size_t n = 0;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d))
      if (e->d_name[0] != '.') ++n;
    ::closedir(d);
  }
  return n;
}

}  // namespace

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

void sh(const std::string& command) {
  int rc = std::system(command.c_str());
  if (rc != 0) {
    int status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
    throw std::runtime_error("command failed (exit " + std::to_string(status) + "): " + command);
  }
}

MailStack& MailStack::get() {
  if (!g_stack) {
    std::unique_ptr<MailStack> s(new MailStack());
    s->start();
    g_stack = std::move(s);
  }
  return *g_stack;
}

void MailStack::shutdown() {
  if (!g_stack) return;
  if (g_stack->owned_) {
    std::string q = shell_quote(g_stack->dir_);
    std::system(("bash " + shell_quote(scripts() + "/stop.sh") + " " + q + " >/dev/null 2>&1; rm -rf " + q).c_str());
  }
  g_stack.reset();
}

void MailStack::start() {
  if (const char* d = std::getenv("JUNIPER_MAILSTACK_DIR"); d && *d) {
    dir_ = d;
    owned_ = false;
    load_env();
    return;
  }
  std::string base = "auto";  // start.sh picks and claims a free port base
  if (const char* b = std::getenv("JUNIPER_TEST_MAIL_PORT_BASE"); b && *b) base = b;
  char tmpl[] = "/tmp/juniper-imap-test-XXXXXX";
  if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
  dir_ = tmpl;
  owned_ = true;
  // PLAIN_IMAP=1 also opens PORT_BASE+143 for the STARTTLS test.
  std::string cmd = "PLAIN_IMAP=1 MAILSTACK_QUIET=1 bash " + shell_quote(scripts() + "/start.sh") + " " + shell_quote(dir_) +
                    " " + base + " </dev/null";
  if (std::system(cmd.c_str()) != 0) {
    ::rmdir(dir_.c_str());
    std::system(("rm -rf " + shell_quote(dir_)).c_str());
    throw std::runtime_error("tests/mailstack/start.sh failed (port base " + base +
                             "; set JUNIPER_TEST_MAIL_PORT_BASE to another base, or "
                             "JUNIPER_MAILSTACK_DIR to a running stack)");
  }
  load_env();
}

void MailStack::load_env() {
  std::ifstream in(dir_ + "/env");
  if (!in) throw std::runtime_error(dir_ + "/env not found");
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    env_[line.substr(0, eq)] = line.substr(eq + 1);  // values used here need no unquoting
  }
}

std::string MailStack::env(const std::string& key) const {
  auto it = env_.find(key);
  return it == env_.end() ? std::string() : it->second;
}

int MailStack::port(const std::string& key) const {
  auto v = env(key);
  return v.empty() ? 0 : std::atoi(v.c_str());
}

std::string MailStack::fresh_address(const std::string& prefix) {
  return prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(++counter_) + "@example.com";
}

void MailStack::add_password_user(const std::string& address, const std::string& password) {
  sh("bash " + shell_quote(scripts() + "/adduser.sh") + " " + shell_quote(dir_) + " " + shell_quote(address) + " " +
     shell_quote(password) + " >/dev/null");
  // Dovecot's passwd-file is checked for changes at most once a second: a lookup in the
  // same second as an earlier one still sees the old file ("unknown user").
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
}

std::string MailStack::idp_control(const std::string& name, const std::string& json_body) {
  CURL* h = curl_easy_init();
  if (!h) throw std::runtime_error("curl_easy_init failed");
  std::string url = env("IDP_URL") + "/_control/" + name, body;
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, json_body.c_str());
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &collect);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(h, CURLOPT_TIMEOUT, 20L);
  CURLcode rc = curl_easy_perform(h);
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(h);
  if (rc != CURLE_OK || status != 200)
    throw std::runtime_error("IdP control " + name + " failed: " + curl_easy_strerror(rc) + " status " + std::to_string(status) +
                             " " + body);
  return body;
}

std::string MailStack::token_for(const std::string& user) {
  if (!app_registered_) {
    idp_control("register_app", R"({"client_id":"c1","client_secret":"s1","redirect_uri":"https://x/cb","tenant":"multi"})");
    app_registered_ = true;
  }
  std::string body =
      idp_control("issue_tokens", R"({"client_id":"c1","user":")" + user +
                                      R"(","scope":"offline_access https://outlook.office.com/IMAP.AccessAsUser.All"})");
  const std::string key = "\"access_token\": \"";
  auto p = body.find(key);
  std::size_t skip = key.size();
  if (p == std::string::npos) {
    p = body.find("\"access_token\":\"");
    skip = 16;
  }
  if (p == std::string::npos) throw std::runtime_error("no access_token in " + body);
  auto start = p + skip;
  return body.substr(start, body.find('"', start) - start);
}

std::string MailStack::deliver_maildir(const std::string& user, const std::string& bytes) {
  const MailIds ids = mail_ids();
  const std::string home = env("MAILDIR_ROOT") + "/" + user;
  mkdir_owned(home, ids);
  mkdir_owned(home + "/Maildir", ids);
  for (const char* sub : {"/Maildir/new", "/Maildir/cur", "/Maildir/tmp"}) mkdir_owned(home + sub, ids);
  // Dovecot gives new files UIDs in the order of the time stamp in their names.
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(now).count();
  const std::string name =
      std::to_string(secs) + ".M" + std::to_string(++counter_) + "P" + std::to_string(::getpid()) + ".juniper-test";
  const std::string tmp = home + "/Maildir/tmp/" + name, dst = home + "/Maildir/new/" + name;
  {
    std::ofstream out(tmp, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out) throw std::runtime_error("cannot write " + tmp);
  }
  if (::chown(tmp.c_str(), ids.uid, ids.gid) != 0 || ::chmod(tmp.c_str(), 0600) != 0 || ::rename(tmp.c_str(), dst.c_str()) != 0)
    throw std::runtime_error("cannot move " + tmp + " into new/: " + std::strerror(errno));
  return name;
}

std::size_t MailStack::maildir_count(const std::string& user) const {
  const std::string md = env("MAILDIR_ROOT") + "/" + user + "/Maildir";
  return count_files(md + "/new") + count_files(md + "/cur");
}

void MailStack::deliver_smtp(const std::string& to, const std::string& bytes, std::chrono::seconds wait) {
  const std::size_t before = maildir_count(to);
  char tmpl[] = "/tmp/juniper-imap-mail-XXXXXX";
  int fd = ::mkstemp(tmpl);
  if (fd < 0) throw std::runtime_error("mkstemp failed");
  std::size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + off, bytes.size() - off);
    if (n <= 0) break;
    off += static_cast<std::size_t>(n);
  }
  ::close(fd);
  std::string cmd = "curl -sS --max-time 30 smtp://127.0.0.1:" + env("SMTP_PORT") + " --ssl-reqd --cacert " +
                    shell_quote(ca_file()) +
                    " --user alice@example.com:alice-password --mail-from alice@example.com"
                    " --mail-rcpt " +
                    shell_quote(to) + " -T " + shell_quote(tmpl);
  int rc = std::system(cmd.c_str());
  ::unlink(tmpl);
  if (rc != 0) throw std::runtime_error("SMTP submission failed: " + cmd);
  const auto deadline = std::chrono::steady_clock::now() + wait;
  while (maildir_count(to) <= before) {
    if (std::chrono::steady_clock::now() > deadline)
      throw std::runtime_error("message to " + to + " not delivered within the wait");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

void MailStack::dovecot(const std::string& action) {
  sh("bash " + shell_quote(scripts() + "/dovecot.sh") + " " + shell_quote(dir_) + " " + action + " >/dev/null 2>&1");
}

}  // namespace juniper::test
