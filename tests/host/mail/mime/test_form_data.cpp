// multipart/form-data as browsers send it, read by GMime: text fields, files byte for byte into
// the caller's file, and refusals that say what is wrong.
#include "mail/mime/form_data.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <string>

using namespace juniper::mail::mime;
using namespace std::string_literals;

namespace {

const std::string kBoundary = "----WebKitFormBoundaryx7ZQ2a";
const std::string kType = "multipart/form-data; boundary=" + kBoundary;

std::string text_part(const std::string& name, const std::string& value) {
  return "--" + kBoundary + "\r\nContent-Disposition: form-data; name=\"" + name + "\"\r\n\r\n" + value + "\r\n";
}
std::string file_part(const std::string& name, const std::string& filename, const std::string& type, const std::string& bytes,
                      const std::string& extra_headers = "") {
  return "--" + kBoundary + "\r\nContent-Disposition: form-data; name=\"" + name + "\"; filename=\"" + filename +
         "\"\r\nContent-Type: " + type + "\r\n" + extra_headers + "\r\n" + bytes + "\r\n";
}
std::string end() { return "--" + kBoundary + "--\r\n"; }

// Every byte value, CR LF and things that look like a delimiter included.
std::string binary() {
  std::string s;
  for (int i = 0; i < 256; ++i) s += static_cast<char>(i);
  return s + "\r\n--" + kBoundary.substr(0, 10) + "\r\n\r\n--\r\n" + s;
}

// A temporary file: its descriptor, read back whole.
struct TempFile {
  FILE* f = std::tmpfile();
  ~TempFile() { std::fclose(f); }
  int fd() const { return fileno(f); }
  std::string bytes() const {
    std::string out;
    char buf[4096];
    for (off_t at = 0;;) {
      const ssize_t n = ::pread(fd(), buf, sizeof buf, at);
      if (n <= 0) return out;
      out.append(buf, static_cast<std::size_t>(n));
      at += n;
    }
  }
  std::string slice(const FormFile& f) const { return bytes().substr(f.offset, f.size); }
};

TempFile with(const std::string& bytes) {
  TempFile t;
  REQUIRE(::write(t.fd(), bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));
  return t;
}

}  // namespace

TEST_CASE("form data: text fields in order, files byte for byte into the caller's file", "[form]") {
  const std::string body = text_part("csrf_token", "t0k") + text_part("to", "bob@example.com") +
                           text_part("body", "Line one\r\nLine two, é") +
                           file_part("attachments", "rapport é.pdf", "Application/PDF", binary()) +
                           file_part("attachments", "notes.txt", "text/plain", "plain notes") +
                           file_part("attachments", "", "application/octet-stream", "") +  // a file field left empty
                           end();
  TempFile out;
  int opened = 0;
  const AttachmentFile file = [&] {
    ++opened;
    return out.fd();
  };
  auto check = [&](const FormData& d) {
    REQUIRE(d.fields.size() == 3);
    CHECK(d.fields[0] == std::pair{"csrf_token"s, "t0k"s});
    CHECK(d.field("to") == "bob@example.com");
    CHECK(d.field("body") == "Line one\r\nLine two, é");
    CHECK_FALSE(d.field("subject"));
    REQUIRE(d.files.size() == 2);
    CHECK(d.files[0].field == "attachments");
    CHECK(d.files[0].filename == "rapport é.pdf");
    CHECK(d.files[0].content_type == "application/pdf");
    CHECK(out.slice(d.files[0]) == binary());
    CHECK(d.files[1].filename == "notes.txt");
    CHECK(out.slice(d.files[1]) == "plain notes");
    CHECK(opened == 1);  // once, at the first file
  };
  SECTION("from memory") { check(parse_form_data(kType, body, file)); }
  SECTION("from a spooled upload") {
    const TempFile upload = with(body + "bytes after the body are not read");
    check(parse_form_data(kType, upload.fd(), body.size(), file));
  }
}

TEST_CASE("form data: a part sent base64 is decoded; a form without files opens no file", "[form]") {
  TempFile out;
  int opened = 0;
  const AttachmentFile file = [&] {
    ++opened;
    return out.fd();
  };
  const auto d = parse_form_data(kType, text_part("a", "1") + end(), file);
  CHECK(d.field("a") == "1");
  CHECK(opened == 0);
  const auto e = parse_form_data(
      kType,
      file_part("f", "x.bin", "application/octet-stream", "aGVsbG8gd29ybGQ=", "Content-Transfer-Encoding: base64\r\n") + end(),
      file);
  REQUIRE(e.files.size() == 1);
  CHECK(out.slice(e.files[0]) == "hello world");
}

TEST_CASE("form data refusals say what is wrong", "[form]") {
  const AttachmentFile no_file = []() -> int {
    FAIL("no file expected");
    return -1;
  };
  auto refusal = [&](std::string_view type, const std::string& body, const FormLimits& limits = {}) {
    try {
      parse_form_data(type, body, no_file, limits);
    } catch (const FormError& e) {
      return std::string(e.what());
    }
    return "accepted"s;
  };
  CHECK(refusal("application/x-www-form-urlencoded", "a=1") == "the form was not sent as multipart/form-data");
  CHECK(refusal("multipart/form-data", text_part("a", "1") + end()) == "the form's Content-Type has no boundary");
  std::string many;
  for (int i = 0; i < 11; ++i) many += text_part("f" + std::to_string(i), "v");
  CHECK(refusal(kType, many + end(), {.max_parts = 10}) == "the form has more than 10 fields and files");
  CHECK(refusal(kType, many + end(), {.max_parts = 11}) == "accepted");
  CHECK(refusal(kType, text_part("body", std::string(2048, 'x')) + end(), {.max_text = 1024}) ==
        "the form's text is over 1 kB; send long texts as a file");
  // A truncated body gives what is there rather than failing.
  CHECK(refusal(kType, text_part("a", "1") + "--" + kBoundary + "\r\nContent-Disposition: form-data; name=\"b\"\r\n\r\npart") ==
        "accepted");
}

TEST_CASE("form data: a file that cannot be written is an error, not a short file", "[form]") {
  const int read_only = ::open("/dev/null", O_RDONLY);
  REQUIRE(read_only >= 0);
  const AttachmentFile file = [&] { return read_only; };
  CHECK_THROWS_WITH(parse_form_data(kType, file_part("f", "a.bin", "application/octet-stream", "data") + end(), file),
                    Catch::Contains("cannot write an uploaded file"));
  ::close(read_only);
}
