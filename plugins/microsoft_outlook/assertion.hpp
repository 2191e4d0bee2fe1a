// RFC 7523 client assertions: the app proves itself with a certificate's private key instead of
// a client secret (Microsoft's recommendation: nothing reusable travels, nothing expires in 24
// months unnoticed). A JWT (libjwt, RS256) naming the certificate by its SHA-256 thumbprint.
#pragma once

#include <juniper/sdk/context.hpp>

#include <string>

namespace outlook {

namespace sdk = juniper::sdk;

inline constexpr const char* kAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

// A signed assertion for `token_url`, valid 10 minutes. `pem`: the certificate and its
// private key (PEM, in either order). Throws sdk::Error (INVALID) saying what the PEM lacks.
std::string client_assertion(const std::string& pem, const std::string& client_id, const std::string& token_url);

// The certificate's "x5t#S256" (base64url SHA-256 of its DER form): what Azure lists as its
// thumbprint's SHA-256 form. Throws sdk::Error (INVALID).
std::string certificate_thumbprint(const std::string& pem);

}  // namespace outlook
