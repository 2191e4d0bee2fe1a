// host/core/curl_loader.cpp: this suite links no libcurl, so every curl_ call below goes through
// the loader: libcurl is mapped at the first one, and each kind of argument (long, string, object,
// callback, curl_off_t, blob, and getinfo's result pointer) reaches libcurl intact.
#include "core/curl_loader.hpp"

#include <curl/curl.h>
#include <catch2/catch.hpp>

#include <unistd.h>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace {

std::size_t append(char* data, std::size_t size, std::size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

}  // namespace

TEST_CASE("libcurl is loaded at the first call and every argument type reaches it", "[curl]") {
  CHECK_FALSE(juniper::curl::loaded());  // nothing has called libcurl yet
  CURL* h = curl_easy_init();
  REQUIRE(h != nullptr);
  CHECK(juniper::curl::loaded());

  const auto file = std::filesystem::temp_directory_path() / ("juniper-curl-loader-" + std::to_string(::getpid()));
  std::ofstream(file) << "0123456789";
  std::string got;
  const std::string url = "file://" + file.string();
  CHECK(curl_easy_setopt(h, CURLOPT_URL, url.c_str()) == CURLE_OK);                  // string
  CHECK(curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &append) == CURLE_OK);            // callback
  CHECK(curl_easy_setopt(h, CURLOPT_WRITEDATA, &got) == CURLE_OK);                   // object
  CHECK(curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L) == CURLE_OK);                      // long
  CHECK(curl_easy_setopt(h, CURLOPT_RESUME_FROM_LARGE, curl_off_t{4}) == CURLE_OK);  // curl_off_t
  REQUIRE(curl_easy_perform(h) == CURLE_OK);
  CHECK(got == "456789");  // the offset arrived as 4
  curl_off_t downloaded = 0;
  CHECK(curl_easy_getinfo(h, CURLINFO_SIZE_DOWNLOAD_T, &downloaded) == CURLE_OK);
  CHECK(downloaded == 6);

  // A long out of range is refused: the value, not garbage, reached libcurl.
  CHECK(curl_easy_setopt(h, CURLOPT_TIMEOUT, -1L) == CURLE_BAD_FUNCTION_ARGUMENT);
  std::string pem = "not a certificate";
  curl_blob blob{pem.data(), pem.size(), CURL_BLOB_COPY};
  CHECK(curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &blob) == CURLE_OK);  // blob
  CHECK(std::string(curl_easy_strerror(CURLE_OK)) == "No error");
  curl_easy_cleanup(h);
  std::filesystem::remove(file);
}
