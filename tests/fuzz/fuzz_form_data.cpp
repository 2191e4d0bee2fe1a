// Fuzz target: a Compose upload read as multipart/form-data (GMime plus our limits).
// Invariant: no crash, nothing but FormError escapes, and every file lies inside what was written.
// The input's first line is the Content-Type (with its boundary), the rest the body.
#include "mail/mime/form_data.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include <unistd.h>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace juniper::mail::mime;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto eol = input.find('\n');
  if (eol == std::string_view::npos) return 0;
  static FILE* out = std::tmpfile();
  if (out == nullptr || ::ftruncate(fileno(out), 0) != 0) std::abort();
  try {
    const FormData form = parse_form_data(
        input.substr(0, eol), input.substr(eol + 1), [] { return fileno(out); },
        FormLimits{.max_parts = 20, .max_text = 64 * 1024});
    const auto written = static_cast<std::size_t>(::lseek(fileno(out), 0, SEEK_END));
    for (const auto& f : form.files)
      if (f.offset + f.size > written) std::abort();
  } catch (const FormError&) {
  }
  return 0;
}
