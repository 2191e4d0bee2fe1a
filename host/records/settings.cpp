#include "records/settings.hpp"

#include "core/errors.hpp"
#include "records/params.hpp"
#include "records/values.hpp"

namespace juniper::records {
FieldDef setting_field(const SettingDef& s) {
  FieldDef f;
  f.name = s.name;
  f.type = s.type;
  f.label = s.label;
  f.choices = s.choices;
  return f;
}

std::vector<SettingValue> settings_show(Env& env) {
  std::vector<SettingValue> out;
  for (const auto& s : env.registry.settings()) {
    const auto stored = param_get(env, s.config_parameter);
    nlohmann::json v;
    if (s.compute) {
      try {
        v = s.compute(env);
      } catch (const std::exception&) {
        v = nullptr;  // shown empty; the settings page still answers
      }
    } else if (s.secret) {
      v = stored && !stored->empty() ? nlohmann::json("set") : nlohmann::json(nullptr);
    } else {
      const auto text = stored ? stored : s.default_value;
      v = text ? normalise(setting_field(s), nlohmann::json(*text)) : nlohmann::json(nullptr);
      if (s.type == FieldType::boolean && v.is_null()) v = false;
    }
    out.push_back({&s, std::move(v)});
  }
  return out;
}

void setting_set(Env& env, std::string_view field, std::string_view value) {
  const SettingDef* s = env.registry.setting(field);
  if (s == nullptr) {
    throw UserError("unknown settings field '" + std::string(field) + "' (see `juniper settings show`)");
  }
  if (s->compute) throw UserError("the setting '" + std::string(field) + "' is computed: it cannot be set");
  if (value.empty()) {
    param_unset(env, s->config_parameter);
    return;
  }
  const FieldDef f = setting_field(*s);
  const auto stored = to_storage(f, nlohmann::json(std::string(value)));
  param_set(env, s->config_parameter, stored.value_or(""), s->secret);
}

}  // namespace juniper::records
