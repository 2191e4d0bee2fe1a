// Fuzz target: importing a fetched message (GMime parse plus our decoding and fallbacks).
// Invariant: no crash; anything GMime cannot read is a ParseError (stored raw by the fetcher).
#include "mail/mime/message.hpp"

#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    (void)juniper::mail::mime::parse(std::string_view(reinterpret_cast<const char*>(data), size));
  } catch (const juniper::mail::mime::ParseError&) {
  }
  return 0;
}
