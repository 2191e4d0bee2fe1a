#include "http/client.hpp"

#include "core/ca_bundle.hpp"
#include "http/request.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <stdexcept>

namespace juniper::http {
namespace {

struct Collector {
  ClientResponse* r;
  std::size_t max;
  bool overflow = false;
};

size_t collect(char* p, size_t s, size_t n, void* user) {
  auto* c = static_cast<Collector*>(user);
  if (c->r->body.size() + s * n > c->max) {
    c->overflow = true;
    return 0;  // aborts the transfer
  }
  c->r->body.append(p, s * n);
  return s * n;
}

size_t header(char* p, size_t s, size_t n, void* user) {
  auto* r = static_cast<ClientResponse*>(user);
  std::string line(p, s * n);
  if (line.rfind("HTTP/", 0) == 0) r->headers.clear();  // a new response (after 100 Continue)
  const auto colon = line.find(':');
  if (colon == std::string::npos || r->headers.size() >= 100) return s * n;
  std::string name = line.substr(0, colon);
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  std::string value = line.substr(colon + 1);
  const auto b = value.find_first_not_of(" \t");
  const auto e = value.find_last_not_of(" \t\r\n");
  r->headers[name] = b == std::string::npos ? "" : value.substr(b, e - b + 1);
  return s * n;
}

// What no retry can change: the URL itself (scheme, syntax) or the request as built.
bool refused_for_good(CURLcode rc) {
  return rc == CURLE_UNSUPPORTED_PROTOCOL || rc == CURLE_URL_MALFORMAT || rc == CURLE_BAD_FUNCTION_ARGUMENT ||
         rc == CURLE_NOT_BUILT_IN;
}

}  // namespace

ClientResponse request(const ClientRequest& rq, const std::string& extra_ca_file) {
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> c(curl_easy_init(), curl_easy_cleanup);
  if (!c) throw std::runtime_error("cannot initialise libcurl");
  ClientResponse r;
  Collector sink{&r, rq.max_response};
  char error[CURL_ERROR_SIZE] = {0};
  {
    // A private CA in addition to (not instead of) the system's trust store.
    std::string err;
    const auto trust = tls::Trust::with(extra_ca_file, err);
    if (!trust) throw UserError("cannot read the CA file " + extra_ca_file + ": " + err);
    trust->apply(c.get());
  }
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> headers(nullptr, curl_slist_free_all);
  for (const auto& [name, value] : rq.headers) {
    if ((name + value).find_first_of("\r\n") != std::string::npos) throw UserError("invalid request header " + name);
    headers.reset(curl_slist_append(headers.release(), (name + ": " + value).c_str()));
  }
  headers.reset(curl_slist_append(headers.release(), "Expect:"));  // no 100-continue round trip
  curl_easy_setopt(c.get(), CURLOPT_URL, rq.url.c_str());
  curl_easy_setopt(c.get(), CURLOPT_CUSTOMREQUEST, rq.method.c_str());
  if (rq.method == "HEAD") curl_easy_setopt(c.get(), CURLOPT_NOBODY, 1L);
  if (!rq.body.empty() || rq.method == "POST" || rq.method == "PUT" || rq.method == "PATCH") {
    curl_easy_setopt(c.get(), CURLOPT_POSTFIELDS, rq.body.data());
    curl_easy_setopt(c.get(), CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(rq.body.size()));
  }
  curl_easy_setopt(c.get(), CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c.get(), CURLOPT_TIMEOUT, static_cast<long>(rq.timeout.count()));
  curl_easy_setopt(c.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c.get(), CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c.get(), CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(c.get(), CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(c.get(), CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(c.get(), CURLOPT_HEADERFUNCTION, header);
  curl_easy_setopt(c.get(), CURLOPT_HEADERDATA, &r);
  const CURLcode rc = curl_easy_perform(c.get());
  if (sink.overflow) {
    throw ResponseTooLarge("the answer of " + rq.url + " is larger than the " + std::to_string(rq.max_response >> 20) +
                           " MB this host takes in one answer");
  }
  if (rc != CURLE_OK) {
    const std::string why = error[0] ? std::string(error) : curl_easy_strerror(rc);
    if (refused_for_good(rc)) throw UserError("cannot use " + rq.url + ": " + why);
    throw TemporaryError("cannot reach " + rq.url + ": " + why);
  }
  curl_easy_getinfo(c.get(), CURLINFO_RESPONSE_CODE, &r.status);
  return r;
}

ClientResponse post_form(const std::string& url, const std::vector<std::pair<std::string, std::string>>& form,
                         std::chrono::seconds timeout, const std::string& extra_ca_file) {
  ClientRequest rq;
  rq.method = "POST";
  rq.url = url;
  rq.timeout = timeout;
  rq.headers = {{"Content-Type", "application/x-www-form-urlencoded"}};
  for (const auto& [k, v] : form) rq.body += (rq.body.empty() ? "" : "&") + url_encode(k) + "=" + url_encode(v);
  return request(rq, extra_ca_file);
}

}  // namespace juniper::http
