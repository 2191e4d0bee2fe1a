#include "core/crypto.hpp"

#include <catch2/catch.hpp>

namespace crypto = juniper::crypto;

TEST_CASE("secrets are sealed with AES-256-GCM and tampering is detected", "[crypto]") {
  const auto key = crypto::random_bytes(32);
  const std::string sealed = crypto::encrypt(key, "refresh-token-value");
  CHECK(crypto::is_sealed(sealed));
  CHECK(sealed.find("refresh-token-value") == std::string::npos);
  CHECK(crypto::decrypt(key, sealed) == "refresh-token-value");
  CHECK(crypto::encrypt(key, "x") != crypto::encrypt(key, "x"));  // random nonce
  std::string tampered = sealed;
  tampered[10] = tampered[10] == 'A' ? 'B' : 'A';
  CHECK_THROWS(crypto::decrypt(key, tampered));
  CHECK_THROWS(crypto::decrypt(crypto::random_bytes(32), sealed));
}

TEST_CASE("passwords are stored as scrypt hashes", "[crypto]") {
  const std::string h = crypto::hash_password("correct horse");
  CHECK(h.starts_with("scrypt$"));
  CHECK(crypto::verify_password("correct horse", h));
  CHECK_FALSE(crypto::verify_password("correct horsE", h));
  CHECK_FALSE(crypto::verify_password("x", "garbage"));
}

TEST_CASE("base64 round trips and HMAC matches RFC 4231 case 2", "[crypto]") {
  CHECK(crypto::base64_decode(crypto::base64("hello\x01world")) == "hello\x01world");
  CHECK(crypto::to_hex(crypto::hmac_sha256("Jefe", "what do ya want for nothing?")) ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}
