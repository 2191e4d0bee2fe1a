// The trust store every TLS client of the host uses: the system's CAs plus, when given, an extra
// CA file (a private CA; tests use their own). Verification is never turned off.
#pragma once

#include <optional>
#include <string>

namespace juniper::tls {

// Where a TLS client finds its trust anchors. Where libcurl has the system's hashed CA folder
// (its CAPATH, /etc/ssl/certs on Debian, kept by update-ca-certificates), OpenSSL reads a CA
// from there only when a chain needs it, and the extra file is read beside it: no connection
// parses the whole bundle (about 140 certificates, ~1 MB of memory each time). Without such a
// folder: the system bundle plus the extra file as one PEM blob, as libcurl's CAINFO_BLOB
// replaces the default bundle.
class Trust {
 public:
  // nullopt with `error` set when the extra file cannot be read.
  static std::optional<Trust> with(const std::string& extra_ca_file, std::string& error);
  // Sets the CA options on a libcurl easy handle (a CURL*).
  void apply(void* curl) const;

 private:
  std::string ca_file_;  // empty: none
  std::string ca_path_;  // empty: the blob instead
  std::string blob_;
};

// The process's extra CA file: $JUNIPER_CA_FILE (the host puts juniper.conf's ca_file there at
// start-up); empty when none.
std::string extra_ca_file();

}  // namespace juniper::tls
