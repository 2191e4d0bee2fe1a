// The trust store every TLS client of the host uses: the system's CA bundle plus, when given,
// an extra CA file (a private CA; tests use their own). Verification is never turned off.
#pragma once

#include <optional>
#include <string>

namespace juniper::tls {

// PEM text for CURLOPT_CAINFO_BLOB (which replaces the default bundle, so it holds both).
// nullopt with `error` set when the extra file cannot be read.
std::optional<std::string> ca_bundle_with(const std::string& extra_ca_file, std::string& error);

// The process's extra CA file: $JUNIPER_CA_FILE (the host puts juniper.conf's ca_file there at
// start-up); empty when none.
std::string extra_ca_file();

}  // namespace juniper::tls
