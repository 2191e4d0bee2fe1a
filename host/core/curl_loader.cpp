// libcurl is loaded on first use rather than linked (as systemd loads its optional libraries): a
// process that never speaks SMTP, IMAP or HTTPS out, nor decodes a URL, does not map libcurl and
// the ~25 libraries it brings (GnuTLS, Kerberos, LDAP, SSH, RTMP ...), nor run their
// constructors. Each entry point below has libcurl's own signature and forwards to the loaded one,
// so the callers are plain libcurl code.
#define CURL_DISABLE_TYPECHECK  // the type-checking macros would rewrite the definitions below
#include "core/curl_loader.hpp"

#include <curl/curl.h>
#include <dlfcn.h>

#include <cstdarg>
#include <stdexcept>
#include <string>

namespace juniper::curl {
namespace {

constexpr const char* kLibrary = "libcurl.so.4";

struct Api {
  void* handle = nullptr;
  std::string error;
  template <typename F>
  F* get(const char* name) const {
    return reinterpret_cast<F*>(::dlsym(handle, name));
  }
};

const Api& api() {
  static const Api loaded = [] {
    Api a;
    a.handle = ::dlopen(kLibrary, RTLD_NOW | RTLD_LOCAL);
    if (a.handle == nullptr) {
      const char* why = ::dlerror();
      a.error = std::string(kLibrary) + " cannot be loaded (" + (why ? why : "unknown") + "): install the libcurl4 package";
    }
    return a;
  }();
  if (loaded.handle == nullptr) throw std::runtime_error(loaded.error);
  return loaded;
}

// One function of libcurl's, looked up once.
template <typename F>
F* fn(const char* name) {
  F* f = api().get<F>(name);
  if (f == nullptr) throw std::runtime_error(std::string(kLibrary) + " has no " + name + ": it is too old");
  return f;
}

}  // namespace

bool loaded() {
  void* h = ::dlopen(kLibrary, RTLD_NOW | RTLD_NOLOAD);
  if (h != nullptr) ::dlclose(h);  // NOLOAD still counts a reference
  return h != nullptr;
}

}  // namespace juniper::curl

using juniper::curl::fn;

#define JUNIPER_CURL_FORWARD(name) static auto* const real = fn<decltype(name)>(#name)

extern "C" {

CURLcode curl_global_init(long flags) {
  JUNIPER_CURL_FORWARD(curl_global_init);
  return real(flags);
}

CURL* curl_easy_init() {
  JUNIPER_CURL_FORWARD(curl_easy_init);
  return real();
}

void curl_easy_cleanup(CURL* h) {
  JUNIPER_CURL_FORWARD(curl_easy_cleanup);
  real(h);
}

CURLcode curl_easy_perform(CURL* h) {
  JUNIPER_CURL_FORWARD(curl_easy_perform);
  return real(h);
}

// The variadic ones: the option number says the argument's type (libcurl's CURLOPTTYPE_ ranges).
CURLcode curl_easy_setopt(CURL* h, CURLoption option, ...) {
  JUNIPER_CURL_FORWARD(curl_easy_setopt);
  va_list ap;
  va_start(ap, option);
  CURLcode rc;
  if (option < CURLOPTTYPE_OBJECTPOINT) {
    rc = real(h, option, va_arg(ap, long));
  } else if (option < CURLOPTTYPE_FUNCTIONPOINT) {
    rc = real(h, option, va_arg(ap, void*));
  } else if (option < CURLOPTTYPE_OFF_T) {
    rc = real(h, option, va_arg(ap, void (*)()));
  } else if (option < CURLOPTTYPE_BLOB) {
    rc = real(h, option, va_arg(ap, curl_off_t));
  } else {
    rc = real(h, option, va_arg(ap, void*));
  }
  va_end(ap);
  return rc;
}

CURLcode curl_easy_getinfo(CURL* h, CURLINFO info, ...) {
  JUNIPER_CURL_FORWARD(curl_easy_getinfo);
  va_list ap;
  va_start(ap, info);
  const CURLcode rc = real(h, info, va_arg(ap, void*));  // always a pointer to the result
  va_end(ap);
  return rc;
}

const char* curl_easy_strerror(CURLcode code) {
  JUNIPER_CURL_FORWARD(curl_easy_strerror);
  return real(code);
}

CURLcode curl_easy_send(CURL* h, const void* buffer, size_t length, size_t* sent) {
  JUNIPER_CURL_FORWARD(curl_easy_send);
  return real(h, buffer, length, sent);
}

CURLcode curl_easy_recv(CURL* h, void* buffer, size_t length, size_t* received) {
  JUNIPER_CURL_FORWARD(curl_easy_recv);
  return real(h, buffer, length, received);
}

char* curl_easy_escape(CURL* h, const char* text, int length) {
  JUNIPER_CURL_FORWARD(curl_easy_escape);
  return real(h, text, length);
}

char* curl_easy_unescape(CURL* h, const char* text, int length, int* out_length) {
  JUNIPER_CURL_FORWARD(curl_easy_unescape);
  return real(h, text, length, out_length);
}

void curl_free(void* p) {
  JUNIPER_CURL_FORWARD(curl_free);
  real(p);
}

curl_slist* curl_slist_append(curl_slist* list, const char* text) {
  JUNIPER_CURL_FORWARD(curl_slist_append);
  return real(list, text);
}

void curl_slist_free_all(curl_slist* list) {
  JUNIPER_CURL_FORWARD(curl_slist_free_all);
  real(list);
}

CURLU* curl_url() {
  JUNIPER_CURL_FORWARD(curl_url);
  return real();
}

void curl_url_cleanup(CURLU* u) {
  JUNIPER_CURL_FORWARD(curl_url_cleanup);
  real(u);
}

CURLUcode curl_url_get(CURLU* u, CURLUPart what, char** part, unsigned int flags) {
  JUNIPER_CURL_FORWARD(curl_url_get);
  return real(u, what, part, flags);
}

CURLUcode curl_url_set(CURLU* u, CURLUPart what, const char* part, unsigned int flags) {
  JUNIPER_CURL_FORWARD(curl_url_set);
  return real(u, what, part, flags);
}

}  // extern "C"
