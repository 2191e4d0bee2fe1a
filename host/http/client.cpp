#include "http/client.hpp"

#include "core/ca_bundle.hpp"
#include "http/request.hpp"

#include <curl/curl.h>

#include <memory>
#include <stdexcept>

namespace juniper::http {
namespace {


size_t collect(char* p, size_t s, size_t n, void* user) {
  static_cast<std::string*>(user)->append(p, s * n);
  return s * n;
}

}  // namespace

ClientResponse post_form(const std::string& url, const std::vector<std::pair<std::string, std::string>>& form,
                         std::chrono::seconds timeout, const std::string& extra_ca_file) {
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> c(curl_easy_init(), curl_easy_cleanup);
  if (!c) throw std::runtime_error("cannot initialise libcurl");
  std::string body;
  for (const auto& [k, v] : form) body += (body.empty() ? "" : "&") + url_encode(k) + "=" + url_encode(v);
  ClientResponse r;
  char error[CURL_ERROR_SIZE] = {0};
  if (!extra_ca_file.empty()) {
    // The private CA in addition to (not instead of) the system's trust store.
    std::string err;
    const auto bundle = tls::ca_bundle_with(extra_ca_file, err);
    if (!bundle) throw std::runtime_error("cannot read the CA file " + extra_ca_file + ": " + err);
    curl_blob blob{const_cast<char*>(bundle->data()), bundle->size(), CURL_BLOB_COPY};
    curl_easy_setopt(c.get(), CURLOPT_CAINFO_BLOB, &blob);
  }
  curl_easy_setopt(c.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(c.get(), CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(c.get(), CURLOPT_TIMEOUT, static_cast<long>(timeout.count()));
  curl_easy_setopt(c.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c.get(), CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c.get(), CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(c.get(), CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(c.get(), CURLOPT_WRITEDATA, &r.body);
  const CURLcode rc = curl_easy_perform(c.get());
  if (rc != CURLE_OK) {
    throw std::runtime_error("cannot reach " + url + ": " + (error[0] ? std::string(error) : curl_easy_strerror(rc)));
  }
  curl_easy_getinfo(c.get(), CURLINFO_RESPONSE_CODE, &r.status);
  return r;
}

}  // namespace juniper::http
