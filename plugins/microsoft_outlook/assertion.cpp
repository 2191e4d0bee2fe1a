#include "assertion.hpp"

#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <juniper/sdk/oauth2.hpp>

#include <cctype>
#include <chrono>
#include <memory>
#include <regex>

namespace outlook {
namespace {

using Bio = std::unique_ptr<BIO, decltype(&BIO_free)>;
using Cert = std::unique_ptr<X509, decltype(&X509_free)>;
using Key = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using Jwt = std::unique_ptr<jwt_t, decltype(&jwt_free)>;

// A PEM pasted into a one-line (password) field has lost its line breaks: each block gets them
// back (64 base64 characters a line), so OpenSSL can read it.
std::string with_line_breaks(const std::string& pem) {
  static const std::regex block("-----BEGIN ([A-Z0-9 ]+)-----([A-Za-z0-9+/=\\s]*)-----END \\1-----");
  std::string out;
  for (auto it = std::sregex_iterator(pem.begin(), pem.end(), block); it != std::sregex_iterator(); ++it) {
    std::string body;
    for (const char c : (*it)[2].str()) {
      if (!std::isspace(static_cast<unsigned char>(c))) body += c;
    }
    out += "-----BEGIN " + (*it)[1].str() + "-----\n";
    for (std::size_t i = 0; i < body.size(); i += 64) out += body.substr(i, 64) + "\n";
    out += "-----END " + (*it)[1].str() + "-----\n";
  }
  return out;
}

// Reads `pem` in place: it must outlive the BIO.
Bio bio_of(const std::string& pem) { return Bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free); }

[[noreturn]] void refuse(const std::string& why) {
  throw sdk::Error(JUNIPER_ERR_INVALID, "The Outlook client certificate setting " + why +
                                            ": paste the certificate and its private key, both in PEM form "
                                            "(-----BEGIN CERTIFICATE----- ... -----BEGIN PRIVATE KEY----- ...).");
}

Cert certificate_of(const std::string& pem) {
  auto bio = bio_of(pem);
  Cert cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr), X509_free);
  if (!cert) refuse("holds no certificate");
  return cert;
}

std::string random_id() { return juniper::sdk::oauth2::random_token(16); }

}  // namespace

std::string certificate_thumbprint(const std::string& text) {
  const std::string pem = with_line_breaks(text);
  const Cert cert = certificate_of(pem);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (X509_digest(cert.get(), EVP_sha256(), md, &n) != 1) refuse("holds a certificate that cannot be read");
  return juniper::sdk::oauth2::base64url(md, n);
}

std::string client_assertion(const std::string& text, const std::string& client_id, const std::string& token_url) {
  const std::string pem = with_line_breaks(text);
  const Cert cert = certificate_of(pem);
  {
    auto bio = bio_of(pem);
    const Key key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr), EVP_PKEY_free);
    if (!key) refuse("holds no (unencrypted) private key");
    if (X509_check_private_key(cert.get(), key.get()) != 1) refuse("holds a private key that is not the certificate's");
  }
  jwt_t* raw = nullptr;
  if (jwt_new(&raw) != 0) throw sdk::Error(JUNIPER_ERR_INTERNAL, "cannot build the client assertion");
  const Jwt jwt(raw, jwt_free);
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  const std::string jti = random_id();
  const std::string thumb = certificate_thumbprint(pem);
  const bool ok =
      jwt_add_header(jwt.get(), "x5t#S256", thumb.c_str()) == 0 && jwt_add_grant(jwt.get(), "aud", token_url.c_str()) == 0 &&
      jwt_add_grant(jwt.get(), "iss", client_id.c_str()) == 0 && jwt_add_grant(jwt.get(), "sub", client_id.c_str()) == 0 &&
      jwt_add_grant(jwt.get(), "jti", jti.c_str()) == 0 && jwt_add_grant_int(jwt.get(), "nbf", now) == 0 &&
      jwt_add_grant_int(jwt.get(), "iat", now) == 0 && jwt_add_grant_int(jwt.get(), "exp", now + 600) == 0 &&
      jwt_set_alg(jwt.get(), JWT_ALG_RS256, reinterpret_cast<const unsigned char*>(pem.data()), static_cast<int>(pem.size())) ==
          0;
  if (!ok) refuse("cannot sign with RS256 (an RSA key is needed)");
  std::unique_ptr<char, decltype(&free)> out(jwt_encode_str(jwt.get()), free);
  if (!out) refuse("cannot sign with RS256 (an RSA key is needed)");
  return out.get();
}

}  // namespace outlook
