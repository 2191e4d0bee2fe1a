// The one way records are written: CLI, web pages and modules all come through here, so
// defaults, change-defaults, required fields, selections and constraints hold for everyone.
#pragma once

#include "records/env.hpp"

#include <vector>

namespace juniper::records {

enum class Secrets { masked, revealed };  // masked: "set" / null, for output to people

// Record as JSON: {"id": 3, "name": ..., secret fields "set"/null unless revealed}.
nlohmann::json read(Env& env, std::string_view model, std::int64_t id, Secrets secrets = Secrets::masked);
// Only `fields` (and "id"), secrets masked: a list row without the bodies it does not show.
nlohmann::json read_fields(Env& env, std::string_view model, std::int64_t id, const std::vector<std::string>& fields);
// Ids matching every {"field": value} pair, in the type's order; `limit` of them after `offset`.
std::vector<std::int64_t> search(Env& env, std::string_view model, const nlohmann::json& filter = nlohmann::json::object(),
                                 std::optional<std::size_t> limit = std::nullopt, std::size_t offset = 0);
std::vector<nlohmann::json> list(Env& env, std::string_view model, const nlohmann::json& filter = nlohmann::json::object(),
                                 Secrets secrets = Secrets::masked);

std::int64_t create(Env& env, std::string_view model, const nlohmann::json& values);
void write(Env& env, std::string_view model, std::int64_t id, const nlohmann::json& values);
void remove(Env& env, std::string_view model, std::int64_t id);

// "ir.mail_server 3 (Notifications)": how messages name a record.
std::string describe(const RecordType& type, const nlohmann::json& record);

}  // namespace juniper::records
