#include "core/ca_bundle.hpp"

#include <curl/curl.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace juniper::tls {
namespace {

std::optional<std::string> read_file(const std::string& path, std::string& error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = std::strerror(errno);
    return std::nullopt;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A path libcurl was built with (CURLINFO_CAINFO: its bundle, CURLINFO_CAPATH: its folder).
std::string curl_default(CURLINFO what) {
  std::string path;
  if (CURL* probe = curl_easy_init()) {
    char* def = nullptr;
    if (curl_easy_getinfo(probe, what, &def) == CURLE_OK && def != nullptr) path = def;
    curl_easy_cleanup(probe);
  }
  return path;
}

// libcurl's own default bundle first (where the distribution put it), then the usual places.
std::string system_bundle() {
  std::string ignored;
  if (const std::string def = curl_default(CURLINFO_CAINFO); !def.empty()) {
    if (auto pem = read_file(def, ignored)) return *pem;
  }
  for (const char* p : {"/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem"}) {
    if (auto pem = read_file(p, ignored)) return *pem;
  }
  return {};
}

// libcurl's default CA folder when it holds OpenSSL's subject-hash links ("5ad8a5d6.0"), which
// is how OpenSSL finds a CA there; empty otherwise.
std::string system_ca_folder() {
  const std::string folder = curl_default(CURLINFO_CAPATH);
  std::error_code ec;
  if (folder.empty() || !std::filesystem::is_directory(folder, ec)) return {};
  for (const auto& e : std::filesystem::directory_iterator(folder, ec)) {
    const std::string name = e.path().filename().string();
    if (name.size() == 10 && name[8] == '.' && std::isxdigit(static_cast<unsigned char>(name[0]))) return folder;
  }
  return {};
}

}  // namespace

std::optional<Trust> Trust::with(const std::string& extra_ca_file, std::string& error) {
  Trust t;
  std::optional<std::string> extra;
  if (!extra_ca_file.empty() && !(extra = read_file(extra_ca_file, error))) return std::nullopt;
  static const std::string folder = system_ca_folder();
  if (!folder.empty()) {
    t.ca_file_ = extra_ca_file;
    t.ca_path_ = folder;
    return t;
  }
  if (!extra) return t;  // libcurl's default bundle
  std::string pem = system_bundle();
  if (!pem.empty() && pem.back() != '\n') pem += '\n';
  pem += *extra;
  if (!pem.empty() && pem.back() != '\n') pem += '\n';
  t.blob_ = std::move(pem);
  return t;
}

void Trust::apply(void* curl) const {
  if (!ca_path_.empty()) {
    curl_easy_setopt(curl, CURLOPT_CAINFO, ca_file_.empty() ? static_cast<const char*>(nullptr) : ca_file_.c_str());
    curl_easy_setopt(curl, CURLOPT_CAPATH, ca_path_.c_str());
  } else if (!blob_.empty()) {
    curl_blob blob{const_cast<char*>(blob_.data()), blob_.size(), CURL_BLOB_COPY};
    curl_easy_setopt(curl, CURLOPT_CAINFO_BLOB, &blob);
  }
}

std::string extra_ca_file() {
  const char* ca = std::getenv("JUNIPER_CA_FILE");
  return ca != nullptr ? ca : "";
}

}  // namespace juniper::tls
