// General Settings: the registered settings fields, each stored in its system parameter.
#pragma once

#include "records/env.hpp"

namespace juniper::records {

struct SettingValue {
  const SettingDef* def;
  nlohmann::json value;  // typed; secrets: "set" or null, never the value
};

std::vector<SettingValue> settings_show(Env& env);
// A settings field seen as a record field (for value checks and generated forms).
FieldDef setting_field(const SettingDef& s);
// Sets one field ("microsoft_outlook_client_identifier", "abc"); empty value = back to default.
void setting_set(Env& env, std::string_view field, std::string_view value);

}  // namespace juniper::records
