// Thin, safe wrappers over OpenSSL: randomness, encodings, HMAC, AES-256-GCM and the password KDF.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/spooled.hpp"

namespace juniper::crypto {

using Bytes = std::vector<std::uint8_t>;

Bytes random_bytes(std::size_t n);
std::string random_token(std::size_t n_bytes = 32);  // URL-safe base64, no padding

std::string to_hex(const Bytes& b);
std::string base64(std::string_view data);
std::string base64url(std::string_view data);     // no padding (PKCE, tokens)
std::string base64_decode(std::string_view b64);  // throws std::invalid_argument

Bytes hmac_sha256(std::string_view key, std::string_view message);
Bytes sha256(std::string_view data);
Bytes sha256(const Spooled& data);  // read in pieces: a spooled file is never held whole
bool equal_constant_time(std::string_view a, std::string_view b);

// AES-256-GCM with a random 96-bit nonce; text form "gcm1:" + base64(nonce | ciphertext | tag).
std::string encrypt(const Bytes& key, std::string_view plaintext);
std::string decrypt(const Bytes& key, std::string_view sealed);  // throws on tampering
bool is_sealed(std::string_view value);

// scrypt (N=2^15, r=8, p=1): "scrypt$<salt b64>$<hash b64>".
std::string hash_password(std::string_view password);
bool verify_password(std::string_view password, std::string_view stored);

}  // namespace juniper::crypto
