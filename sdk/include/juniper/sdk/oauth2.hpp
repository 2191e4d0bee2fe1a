// The small pieces every OAuth 2.0 provider module needs (RFC 6749's code flow, RFC 7636's PKCE,
// a cookie binding a flow to the browser that started it), header-only. OpenSSL does the
// randomness, hashing and base64: include this only in a module that links OpenSSL::Crypto.
#pragma once

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <juniper/sdk/context.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace juniper::sdk::oauth2 {

// base64url without padding (RFC 7636 appendix A).
inline std::string base64url(const unsigned char* data, std::size_t n) {
  std::string out(4 * ((n + 2) / 3) + 1, '\0');
  out.resize(static_cast<std::size_t>(EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(n))));
  std::replace(out.begin(), out.end(), '+', '-');
  std::replace(out.begin(), out.end(), '/', '_');
  out.erase(std::find(out.begin(), out.end(), '='), out.end());
  return out;
}

// `bytes` random bytes as base64url: nonces, PKCE verifiers, cookie values.
inline std::string random_token(std::size_t bytes) {
  std::vector<unsigned char> b(bytes);
  if (RAND_bytes(b.data(), static_cast<int>(bytes)) != 1) throw Error(JUNIPER_ERR_INTERNAL, "no randomness");
  return base64url(b.data(), bytes);
}

// PKCE's S256 code_challenge of a verifier.
inline std::string pkce_s256(std::string_view verifier) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(verifier.data(), verifier.size(), md, &len, EVP_sha256(), nullptr);
  return base64url(md, len);
}

// Two secrets compared in constant time; an empty one never matches.
inline bool same_secret(std::string_view a, std::string_view b) {
  return !a.empty() && a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

// The value of cookie `name` in a Cookie header when it looks like random_token(24..96) made it
// (32 to 128 base64url characters); anything else is no cookie.
inline std::optional<std::string> cookie(const std::optional<std::string>& header, std::string_view name) {
  if (!header) return std::nullopt;
  std::string_view s = *header;
  while (!s.empty()) {
    const auto semi = s.find(';');
    std::string_view part = s.substr(0, semi);
    s = semi == std::string_view::npos ? std::string_view{} : s.substr(semi + 1);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    while (!part.empty() && part.back() == ' ') part.remove_suffix(1);
    if (part.size() <= name.size() || !part.starts_with(name) || part[name.size()] != '=') continue;
    const std::string_view v = part.substr(name.size() + 1);
    const bool token = v.size() >= 32 && v.size() <= 128 && std::all_of(v.begin(), v.end(), [](char c) {
                         return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
                       });
    if (token) return std::string(v);
  }
  return std::nullopt;
}

// Seconds since the epoch, as tokens' expires_in is counted.
inline std::int64_t now_unix() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace juniper::sdk::oauth2
