#include "web_client.hpp"

#include "http/request.hpp"

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace juniper::test {

WebClient::WebClient(std::string base) : base_(std::move(base)), curl_(curl_easy_init()) {
  curl_easy_setopt(curl_, CURLOPT_COOKIEFILE, "");
  curl_easy_setopt(
      curl_, CURLOPT_WRITEFUNCTION, +[](char* p, size_t s, size_t n, void* u) {
        static_cast<std::string*>(u)->append(p, s * n);
        return s * n;
      });
}

WebClient::~WebClient() { curl_easy_cleanup(curl_); }

Reply WebClient::get(const std::string& path_or_url) { return run(path_or_url, nullptr); }
Reply WebClient::post(const std::string& path, const std::string& form) { return run(path, &form); }

Reply WebClient::post_multipart(const std::string& path, const std::vector<std::pair<std::string, std::string>>& fields,
                                const std::vector<UploadFile>& files) {
  curl_mime* mime = curl_mime_init(curl_);
  for (const auto& [name, value] : fields) {
    curl_mimepart* part = curl_mime_addpart(mime);
    curl_mime_name(part, name.c_str());
    curl_mime_data(part, value.data(), value.size());
  }
  for (const auto& f : files) {
    curl_mimepart* part = curl_mime_addpart(mime);
    curl_mime_name(part, f.field.c_str());
    curl_mime_filename(part, f.filename.c_str());
    curl_mime_type(part, f.content_type.c_str());
    curl_mime_data(part, f.bytes.data(), f.bytes.size());
  }
  try {
    Reply r = run(path, nullptr, mime);
    curl_easy_setopt(curl_, CURLOPT_MIMEPOST, nullptr);
    curl_mime_free(mime);
    return r;
  } catch (...) {
    curl_easy_setopt(curl_, CURLOPT_MIMEPOST, nullptr);
    curl_mime_free(mime);
    throw;
  }
}

Reply WebClient::post_announced(const std::string& path, const std::string& content_type, curl_off_t length) {
  curl_easy_setopt(curl_, CURLOPT_POST, 1L);
  curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, nullptr);
  curl_easy_setopt(curl_, CURLOPT_POSTFIELDSIZE_LARGE, length);
  curl_easy_setopt(
      curl_, CURLOPT_READFUNCTION, +[](char* buf, size_t size, size_t n, void*) {
        std::fill(buf, buf + size * n, 'x');
        return size * n;
      });
  curl_slist* headers = curl_slist_append(nullptr, ("Content-Type: " + content_type).c_str());
  headers = curl_slist_append(headers, "Expect: 100-continue");
  curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, headers);
  Reply r;
  try {
    r = run(path, nullptr, nullptr, true);
  } catch (...) {
    curl_slist_free_all(headers);
    throw;
  }
  curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, nullptr);
  curl_easy_setopt(curl_, CURLOPT_READFUNCTION, nullptr);
  curl_easy_setopt(curl_, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t{-1});
  curl_slist_free_all(headers);
  return r;
}

Reply WebClient::run(const std::string& path, const std::string* form, curl_mime* mime, bool prepared) {
  Reply r;
  const std::string url = path.starts_with("http") ? path : base_ + path;
  curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &r.body);
  if (prepared) {
    // the caller set the request up
  } else if (mime != nullptr) {
    curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, nullptr);  // an earlier form's text, freed by now
    curl_easy_setopt(curl_, CURLOPT_MIMEPOST, mime);
  } else if (form != nullptr) {
    curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, form->c_str());
  } else {
    curl_easy_setopt(curl_, CURLOPT_HTTPGET, 1L);
  }
  if (curl_easy_perform(curl_) != CURLE_OK) throw std::runtime_error("request failed: " + url);
  curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &r.status);
  char* loc = nullptr;
  curl_easy_getinfo(curl_, CURLINFO_REDIRECT_URL, &loc);
  if (loc != nullptr) r.location = loc;
  for (curl_header* h = nullptr; (h = curl_easy_nextheader(curl_, CURLH_HEADER, -1, h)) != nullptr;) {
    std::string name = h->name;
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    r.headers[name] = h->value;
  }
  return r;
}

bool WebClient::login(const std::string& login, const std::string& password) {
  const std::string csrf = csrf_from(get("/web/login").body);
  const auto r =
      post("/web/login", "login=" + http::url_encode(login) + "&password=" + http::url_encode(password) + "&csrf_token=" + csrf);
  return r.status == 303;
}

std::string csrf_from(const std::string& html) {
  const std::string marker = "name=\"csrf_token\" value=\"";
  const auto p = html.find(marker);
  if (p == std::string::npos) return {};
  return html.substr(p + marker.size(), html.find('"', p + marker.size()) - p - marker.size());
}

std::string query_value(const std::string& url, const std::string& name) {
  const auto q = url.find('?');
  if (q == std::string::npos) return {};
  for (const auto& [k, v] : http::parse_urlencoded(url.substr(q + 1))) {
    if (k == name) return v;
  }
  return {};
}

}  // namespace juniper::test
