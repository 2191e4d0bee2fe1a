// Hook admin.warnings: what the administrator must do before Outlook mail stops — a client
// secret within 30 days of the expiry date noted in Settings (the seed's advice: "the
// expiration date should be noted"), and servers that can no longer get a token.
#pragma once

#include <juniper/sdk/context.hpp>

#include <optional>

namespace outlook {

namespace sdk = juniper::sdk;

std::optional<nlohmann::json> warnings(sdk::Context& ctx, const nlohmann::json& payload);

// Days from `now_iso` ("2026-12-02T13:00:00Z") to the day `date` ("2027-01-15") begins; nullopt
// when either cannot be read.
std::optional<long> days_until(const std::string& date, const std::string& now_iso);

}  // namespace outlook
