// System parameters (Odoo's ir.config_parameter): key/value text. A key backed by a secret
// setting (or marked secret) is encrypted at rest and listed as "set".
#pragma once

#include "records/env.hpp"

#include <map>
#include <optional>

namespace juniper::records {

void ensure_params_table(Database& db);

std::optional<std::string> param_get(Env& env, std::string_view key);
void param_set(Env& env, std::string_view key, std::string_view value, bool secret = false);
bool param_unset(Env& env, std::string_view key);

struct ParamEntry {
  std::string key;
  std::optional<std::string> value;  // nullopt for secrets: never shown
  bool secret = false;
};
std::vector<ParamEntry> param_list(Env& env);

}  // namespace juniper::records
