// Microsoft identity platform errors, told in plain words with what to do.
#pragma once

#include <string>

namespace outlook {

// The AADSTS code at the start of a Microsoft error_description ("AADSTS70008: ..."), or 0.
long aadsts_code(const std::string& description);

// An actionable sentence for a token endpoint or authorize error; unknown codes keep
// Microsoft's own description. `redirect_uri`: the exact address to register, named in the
// redirect URI mismatch (AADSTS50011/500112).
std::string explain(const std::string& error, const std::string& description, const std::string& redirect_uri = "");

// Whether the refresh token is dead (the account must be connected again).
bool needs_reconnect(const std::string& error, long code);

}  // namespace outlook
