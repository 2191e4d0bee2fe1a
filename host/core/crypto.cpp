#include "core/crypto.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/random.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <stdexcept>

namespace juniper::crypto {
namespace {

constexpr std::string_view kSealPrefix = "gcm1:";
constexpr std::size_t kNonce = 12;
constexpr std::size_t kTag = 16;

struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;

std::string_view as_view(const Bytes& b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }

}  // namespace

// The kernel's CSPRNG (what OpenSSL seeds from): a token, salt or nonce needs no OpenSSL
// initialised, so a server that has only started has not loaded its algorithm tables (~2 MB).
Bytes random_bytes(std::size_t n) {
  Bytes out(n);
  for (std::size_t got = 0; got < n;) {
    const ssize_t r = ::getrandom(out.data() + got, n - got, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) throw std::runtime_error(std::string("getrandom failed: ") + std::strerror(errno));
    got += static_cast<std::size_t>(r);
  }
  return out;
}

std::string random_token(std::size_t n_bytes) { return base64url(as_view(random_bytes(n_bytes))); }

std::string to_hex(const Bytes& b) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(b.size() * 2);
  for (auto c : b) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 0xF]);
  }
  return out;
}

std::string base64(std::string_view data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(data.data()),
                                static_cast<int>(data.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::string base64url(std::string_view data) {
  std::string s = base64(data);
  std::replace(s.begin(), s.end(), '+', '-');
  std::replace(s.begin(), s.end(), '/', '_');
  while (!s.empty() && s.back() == '=') s.pop_back();
  return s;
}

std::string base64_decode(std::string_view b64) {
  if (b64.size() % 4 != 0) throw std::invalid_argument("invalid base64 length");
  std::string out(3 * b64.size() / 4 + 1, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(b64.data()),
                                static_cast<int>(b64.size()));
  if (n < 0) throw std::invalid_argument("invalid base64");
  // EVP_DecodeBlock counts padding as zero bytes: drop them.
  std::size_t len = static_cast<std::size_t>(n);
  if (!b64.empty() && b64.back() == '=') --len;
  if (b64.size() > 1 && b64[b64.size() - 2] == '=') --len;
  out.resize(len);
  return out;
}

Bytes hmac_sha256(std::string_view key, std::string_view message) {
  Bytes out(EVP_MAX_MD_SIZE);
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(message.data()),
           message.size(), out.data(), &len) == nullptr) {
    throw std::runtime_error("HMAC failed");
  }
  out.resize(len);
  return out;
}

Bytes sha256(std::string_view data) {
  Bytes out(EVP_MAX_MD_SIZE);
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), out.data(), &len, EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("SHA-256 failed");
  }
  out.resize(len);
  return out;
}

Bytes sha256(const Spooled& data) {
  if (!data.in_file()) return sha256(data.memory());
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) throw std::runtime_error("SHA-256 failed");
  data.each_chunk([&](std::string_view piece) {
    if (EVP_DigestUpdate(ctx.get(), piece.data(), piece.size()) != 1) throw std::runtime_error("SHA-256 failed");
  });
  Bytes out(EVP_MAX_MD_SIZE);
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx.get(), out.data(), &len) != 1) throw std::runtime_error("SHA-256 failed");
  out.resize(len);
  return out;
}

bool equal_constant_time(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

bool is_sealed(std::string_view value) { return value.starts_with(kSealPrefix); }

std::string encrypt(const Bytes& key, std::string_view plaintext) {
  if (key.size() != 32) throw std::invalid_argument("AES-256 key must be 32 bytes");
  const Bytes nonce = random_bytes(kNonce);
  std::string out(as_view(nonce));
  out.resize(kNonce + plaintext.size() + kTag);
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  auto* cipher = reinterpret_cast<unsigned char*>(out.data() + kNonce);
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.data(), nonce.data()) != 1 ||
      EVP_EncryptUpdate(ctx.get(), cipher, &len, reinterpret_cast<const unsigned char*>(plaintext.data()),
                        static_cast<int>(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), cipher + len, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTag, out.data() + kNonce + plaintext.size()) != 1) {
    throw std::runtime_error("AES-GCM encryption failed");
  }
  return std::string(kSealPrefix) + base64(out);
}

std::string decrypt(const Bytes& key, std::string_view sealed) {
  if (key.size() != 32) throw std::invalid_argument("AES-256 key must be 32 bytes");
  if (!is_sealed(sealed)) throw std::invalid_argument("value is not encrypted");
  const std::string raw = base64_decode(sealed.substr(kSealPrefix.size()));
  if (raw.size() < kNonce + kTag) throw std::invalid_argument("encrypted value is truncated");
  const std::size_t n = raw.size() - kNonce - kTag;
  std::string plain(n, '\0');
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  const auto* in = reinterpret_cast<const unsigned char*>(raw.data());
  auto* out = reinterpret_cast<unsigned char*>(plain.data());
  std::string tag = raw.substr(kNonce + n);
  if (!ctx || EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.data(), in) != 1 ||
      EVP_DecryptUpdate(ctx.get(), out, &len, in + kNonce, static_cast<int>(n)) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTag, tag.data()) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), out + len, &len) != 1) {
    throw std::runtime_error("cannot decrypt a stored secret: wrong master key or tampered data");
  }
  return plain;
}

namespace {
std::string scrypt(std::string_view password, std::string_view salt) {
  std::string out(32, '\0');
  if (EVP_PBE_scrypt(password.data(), password.size(), reinterpret_cast<const unsigned char*>(salt.data()), salt.size(), 1u << 15,
                     8, 1, 64ull << 20, reinterpret_cast<unsigned char*>(out.data()), out.size()) != 1) {
    throw std::runtime_error("scrypt failed");
  }
  return out;
}
}  // namespace

std::string hash_password(std::string_view password) {
  const Bytes salt = random_bytes(16);
  return "scrypt$" + base64(as_view(salt)) + "$" + base64(scrypt(password, as_view(salt)));
}

bool verify_password(std::string_view password, std::string_view stored) {
  const auto a = stored.find('$');
  const auto b = stored.rfind('$');
  if (stored.substr(0, a) != "scrypt" || a == b) return false;
  try {
    const std::string salt = base64_decode(stored.substr(a + 1, b - a - 1));
    return equal_constant_time(base64(scrypt(password, salt)), stored.substr(b + 1));
  } catch (const std::invalid_argument&) {
    return false;
  }
}

}  // namespace juniper::crypto
