// Named claims: one holder at a time across threads and processes, for work that must not run
// twice at once and must not hold a transaction while it waits on the network (a token
// refresh). A claim is a row with an expiry, so a holder that dies frees it by itself.
#pragma once

#include "db/database.hpp"

#include <chrono>
#include <optional>
#include <string>

namespace juniper::records {

// Creates the table (`juniper init`; also made on first use by a database from before it).
void ensure_claims_table(Database& db);

// The holder's token when `name` was free (or its last holder's time ran out), else nullopt.
// Each call commits on its own: call it outside any transaction.
// `now`: the clock (tests move it instead of editing the row).
std::optional<std::string> claim_acquire(Database& db, const std::string& name, std::chrono::seconds hold,
                                         std::chrono::system_clock::time_point now = std::chrono::system_clock::now());
// Frees the claim if `token` still holds it (an expired, re-taken claim is left alone).
void claim_release(Database& db, const std::string& name, const std::string& token);

}  // namespace juniper::records
