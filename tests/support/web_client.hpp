// A browser-like HTTP client for tests: a cookie jar, no redirect following.
#pragma once

#include <curl/curl.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace juniper::test {

// A file for post_multipart, as a browser's file field sends it.
struct UploadFile {
  std::string field, filename, content_type, bytes;
};

struct Reply {
  long status = 0;
  std::string body;
  std::string location;
  std::map<std::string, std::string> headers;  // by lower-case name (the last of each)
};

class WebClient {
 public:
  explicit WebClient(std::string base);
  ~WebClient();
  WebClient(const WebClient&) = delete;
  WebClient& operator=(const WebClient&) = delete;

  Reply get(const std::string& path_or_url);
  Reply post(const std::string& path, const std::string& form);
  // A multipart/form-data POST (curl's MIME API), as a form with a file field is sent; curl adds
  // "Expect: 100-continue" to bodies over 1 MB, as browsers' proxies may.
  Reply post_multipart(const std::string& path, const std::vector<std::pair<std::string, std::string>>& fields,
                       const std::vector<UploadFile>& files);
  // A POST announcing `length` bytes of `content_type` ('x's, sent only if the server asks for
  // them after the head: "Expect: 100-continue").
  Reply post_announced(const std::string& path, const std::string& content_type, curl_off_t length);
  // Logs in through /web/login (fetching the form's CSRF token first); true on success.
  bool login(const std::string& login, const std::string& password);

 private:
  Reply run(const std::string& path, const std::string* form, curl_mime* mime = nullptr, bool prepared = false);
  std::string base_;
  CURL* curl_;
};

std::string csrf_from(const std::string& html);
// The value of a query parameter in a URL (percent-decoded).
std::string query_value(const std::string& url, const std::string& name);

}  // namespace juniper::test
