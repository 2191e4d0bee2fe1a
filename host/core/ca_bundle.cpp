#include "core/ca_bundle.hpp"

#include <curl/curl.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
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

// libcurl's own default bundle first (where the distribution put it), then the usual places.
std::string system_bundle() {
  std::string ignored;
  if (CURL* probe = curl_easy_init()) {
    char* def = nullptr;
    std::optional<std::string> pem;
    if (curl_easy_getinfo(probe, CURLINFO_CAINFO, &def) == CURLE_OK && def != nullptr && *def != '\0')
      pem = read_file(def, ignored);
    curl_easy_cleanup(probe);
    if (pem) return *pem;
  }
  for (const char* p : {"/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem"}) {
    if (auto pem = read_file(p, ignored)) return *pem;
  }
  return {};
}

}  // namespace

std::optional<std::string> ca_bundle_with(const std::string& extra_ca_file, std::string& error) {
  const auto extra = read_file(extra_ca_file, error);
  if (!extra) return std::nullopt;
  std::string pem = system_bundle();
  if (!pem.empty() && pem.back() != '\n') pem += '\n';
  pem += *extra;
  if (!pem.empty() && pem.back() != '\n') pem += '\n';
  return pem;
}

std::string extra_ca_file() {
  const char* ca = std::getenv("JUNIPER_CA_FILE");
  return ca != nullptr ? ca : "";
}

}  // namespace juniper::tls
