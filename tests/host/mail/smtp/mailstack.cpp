#include "mailstack.hpp"

#include <curl/curl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace fs = std::filesystem;

namespace mailstack {

namespace {

const std::string kSource = JUNIPER_SOURCE_DIR;
const std::string kScripts = kSource + "/tests/mailstack";

int run(const std::string& cmd) {
  std::fflush(stdout);
  std::fflush(stderr);
  const int rc = std::system(cmd.c_str());
  return rc == -1 ? -1 : WEXITSTATUS(rc);
}

std::size_t collect(char* p, std::size_t size, std::size_t n, void* userp) {
  static_cast<std::string*>(userp)->append(p, size * n);
  return size * n;
}

nlohmann::json post_json(const std::string& url, const nlohmann::json& body) {
  CURL* h = curl_easy_init();
  if (!h) throw std::runtime_error("curl_easy_init");
  std::string out;
  const std::string payload = body.dump();
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, payload.c_str());
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &collect);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &out);
  curl_easy_setopt(h, CURLOPT_TIMEOUT, 20L);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  const CURLcode rc = curl_easy_perform(h);
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(h);
  if (rc != CURLE_OK || status / 100 != 2)
    throw std::runtime_error("POST " + url + " failed: " + curl_easy_strerror(rc) + " HTTP " + std::to_string(status) + " " +
                             out);
  return nlohmann::json::parse(out);
}

}  // namespace

Stack& Stack::get() {
  static Stack stack;
  return stack;
}

Stack::Stack() {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  if (const char* d = std::getenv("JUNIPER_MAILSTACK_DIR"); d && *d) {
    dir = d;
    load_env();
    return;
  }
  std::string base = "auto";  // start.sh picks and claims a free port base
  if (const char* b = std::getenv("JUNIPER_TEST_MAIL_PORT_BASE"); b && *b) base = b;
  char tmpl[] = "/tmp/juniper-smtp-test-XXXXXX";
  if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
  dir = tmpl;
  owned_ = true;
  if (run("bash " + kScripts + "/start.sh " + dir + " " + base + " </dev/null") != 0) {
    fs::remove_all(dir);
    throw std::runtime_error("tests/mailstack/start.sh failed (port base " + base + ")");
  }
  // If this process dies without running static destructors, stop the stack anyway.
  run("setsid bash -c 'while kill -0 " + std::to_string(::getpid()) + " 2>/dev/null; do sleep 1; done; bash " + kScripts +
      "/stop.sh " + dir + "; rm -rf " + dir + "' </dev/null >/dev/null 2>&1 &");
  load_env();
}

Stack::~Stack() {
  if (!owned_) return;
  run("MAILSTACK_QUIET=1 bash " + kScripts + "/stop.sh " + dir + " </dev/null >/dev/null");
  std::error_code ec;
  fs::remove_all(dir, ec);
}

void Stack::load_env() {
  std::ifstream in(dir + "/env");
  if (!in) throw std::runtime_error("cannot read " + dir + "/env");
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    env[line.substr(0, eq)] = line.substr(eq + 1);
  }
  smtp_port = std::stoi(env.at("SMTP_PORT"));
  port_base = std::stoi(env.at("PORT_BASE"));
  ca_file = env.at("CA_FILE");
  idp_url = env.at("IDP_URL");
  maildir_root = env.at("MAILDIR_ROOT");
  postfix_log = env.at("POSTFIX_LOG");
  postfix_config_dir = env.at("POSTFIX_CONFIG_DIR");
}

std::string Stack::token_for(const std::string& user) {
  if (!app_registered_) {
    post_json(idp_url + "/_control/register_app",
              {{"client_id", "c1"}, {"client_secret", "s1"}, {"redirect_uri", "https://x/cb"}, {"tenant", "multi"}});
    app_registered_ = true;
  }
  auto j = post_json(idp_url + "/_control/issue_tokens",
                     {{"client_id", "c1"}, {"user", user}, {"scope", "https://outlook.office.com/SMTP.Send offline_access"}});
  return j.at("access_token").get<std::string>();
}

void Stack::postfix(const std::string& action) {
  if (run("MAILSTACK_QUIET=1 bash " + kScripts + "/postfix.sh " + dir + " " + action + " </dev/null >/dev/null") != 0)
    throw std::runtime_error("postfix.sh " + action + " failed");
}

std::uintmax_t Stack::log_mark() const {
  std::error_code ec;
  auto n = fs::file_size(postfix_log, ec);
  return ec ? 0 : n;
}

std::string Stack::log_since(std::uintmax_t mark) const {
  std::ifstream in(postfix_log, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(mark));
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

bool Stack::wait_log(std::uintmax_t mark, const std::string& needle, std::chrono::milliseconds timeout) const {
  const auto end = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (log_since(mark).find(needle) != std::string::npos) return true;
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

std::vector<std::string> Stack::mail_files(const std::string& rcpt) const {
  std::vector<std::string> out;
  for (const char* sub : {"new", "cur"}) {
    const fs::path p = fs::path(maildir_root) / rcpt / "Maildir" / sub;
    std::error_code ec;
    for (fs::directory_iterator it(p, ec), end; !ec && it != end; it.increment(ec))
      if (it->is_regular_file()) out.push_back(it->path().string());
  }
  return out;
}

std::vector<std::string> Stack::wait_mail(const std::string& rcpt, std::size_t n, std::chrono::milliseconds timeout) const {
  const auto end = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto files = mail_files(rcpt);
    if (files.size() >= n || std::chrono::steady_clock::now() > end) return files;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

long Stack::message_size_limit() const {
  std::ifstream in(postfix_config_dir + "/main.cf");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("message_size_limit", 0) == 0) return std::stol(line.substr(line.find('=') + 1));
  return 10240000;  // Postfix default
}

std::string unique(const std::string& prefix) {
  static std::atomic<int> n{0};
  return prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(std::time(nullptr) % 100000) + "-" +
         std::to_string(++n);
}

std::string message(const std::string& from, const std::string& to, const std::string& subject, std::size_t size) {
  static std::atomic<int> n{0};
  std::string m = "From: <" + from + ">\r\nTo: <" + to + ">\r\nSubject: " + subject + "\r\nMessage-ID: <" + unique("m") + "." +
                  std::to_string(++n) + "@juniper.test>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\n" +
                  "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n";
  // A line starting with '.' (SMTP dot-stuffing must keep it).
  m += ".leading dot line\r\n";
  static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::size_t k = 0;
  while (m.size() + 78 < size) {
    for (int i = 0; i < 76; ++i) m.push_back(alphabet[(k++ * 7 + static_cast<std::size_t>(i)) % 64]);
    m += "\r\n";
  }
  m += "end\r\n";
  return m;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::size_t count(const std::string& hay, const std::string& needle) {
  std::size_t c = 0;
  for (auto p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + needle.size())) ++c;
  return c;
}

}  // namespace mailstack
