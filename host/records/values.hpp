// Conversions between JSON values (CLI text, module JSON) and what a column stores (text).
#pragma once

#include "records/model.hpp"

#include <optional>
#include <string>

namespace juniper::records {

// Checks and normalises a value for `field`: "587" -> 587, "yes" -> true, "" -> null.
// Throws UserError naming the field on a bad value.
nlohmann::json normalise(const FieldDef& field, const nlohmann::json& value);

// Column text for a normalised value (nullopt = NULL). Secrets are NOT encrypted here.
std::optional<std::string> to_storage(const FieldDef& field, const nlohmann::json& value);
nlohmann::json from_storage(const FieldDef& field, const std::optional<std::string>& text);

}  // namespace juniper::records
