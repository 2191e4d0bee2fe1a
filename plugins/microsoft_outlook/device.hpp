// Sign-in with a code (OAuth 2.0 device authorization grant, RFC 8628) for hosts with no browser
// or no public URL: "Connect with a code" answers a code and a link; anyone signs in on any
// device; the host follows up (SDK 1.5 "continue") with outlook_device_poll at the pace
// Microsoft asks until it says yes, no, or the code expired. No redirect URI is involved.
#pragma once

#include "oauth.hpp"

#include <juniper/sdk/registrar.hpp>

namespace outlook::device {

// The hidden fields of a sign-in under way, and the two actions, on one kind of server.
void declare(sdk::Registrar& reg, const Kind& kind);

}  // namespace outlook::device
