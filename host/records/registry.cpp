#include "records/registry.hpp"

#include "core/errors.hpp"

#include <algorithm>

namespace juniper::records {

std::string_view type_name(FieldType t) {
  switch (t) {
    case FieldType::chars:
      return "char";
    case FieldType::text:
      return "text";
    case FieldType::integer:
      return "int";
    case FieldType::boolean:
      return "bool";
    case FieldType::selection:
      return "selection";
    case FieldType::datetime:
      return "datetime";
    case FieldType::many2one:
      return "many2one";
    case FieldType::secret:
      return "secret";
  }
  return "?";
}

bool FieldDef::has_choice(std::string_view v) const {
  return std::any_of(choices.begin(), choices.end(), [&](const Choice& c) { return c.value == v; });
}

std::string RecordType::table() const {
  std::string t = name;
  std::replace(t.begin(), t.end(), '.', '_');
  return t;
}

std::string RecordType::apart_table() const { return table() + "_apart"; }

bool RecordType::has_apart() const {
  return std::any_of(fields.begin(), fields.end(), [](const FieldDef& f) { return f.apart; });
}

const FieldDef* RecordType::field(std::string_view n) const {
  for (const auto& f : fields) {
    if (f.name == n) return &f;
  }
  return nullptr;
}

FieldDef* RecordType::field(std::string_view n) { return const_cast<FieldDef*>(static_cast<const RecordType*>(this)->field(n)); }

void Registry::add_type(RecordType t) {
  if (types_.contains(t.name)) throw UserError("record type " + t.name + " is already declared");
  const std::string name = t.name;
  types_.emplace(name, std::move(t));
}

void Registry::extend_type(const std::string& name, std::vector<FieldDef> fields, const std::string& owner) {
  RecordType& t = type_mut(name);
  for (auto& f : fields) {
    if (f.name == "id" || t.field(f.name) != nullptr) {
      throw UserError("field " + f.name + " already exists on " + name + " (declared by " +
                      (f.name == "id" ? std::string("base") : t.field(f.name)->owner) + ")");
    }
    f.owner = owner;
    t.fields.push_back(std::move(f));
  }
}

void Registry::add_setting(SettingDef s) {
  if (setting(s.name) != nullptr) throw UserError("settings field " + s.name + " is already declared");
  if (setting_by_parameter(s.config_parameter) != nullptr) {
    throw UserError("system parameter " + s.config_parameter + " already backs another settings field");
  }
  settings_.push_back(std::move(s));
}

void Registry::add_action(ActionDef a) {
  type(a.model);  // must exist
  if (action(a.model, a.name) != nullptr) throw UserError("action " + a.name + " already exists on " + a.model);
  actions_.push_back(std::move(a));
}

const RecordType& Registry::type(std::string_view name) const {
  const RecordType* t = find_type(name);
  if (t == nullptr) {
    throw NotFoundError("unknown model '" + std::string(name) + "' (is the module that declares it installed?)");
  }
  return *t;
}

RecordType& Registry::type_mut(std::string_view name) { return const_cast<RecordType&>(type(name)); }

const RecordType* Registry::find_type(std::string_view name) const {
  const auto it = types_.find(name);
  return it == types_.end() ? nullptr : &it->second;
}

const SettingDef* Registry::setting(std::string_view name) const {
  const auto it = std::find_if(settings_.begin(), settings_.end(), [&](const auto& s) { return s.name == name; });
  return it == settings_.end() ? nullptr : &*it;
}

const SettingDef* Registry::setting_by_parameter(std::string_view key) const {
  const auto it = std::find_if(settings_.begin(), settings_.end(), [&](const auto& s) { return s.config_parameter == key; });
  return it == settings_.end() ? nullptr : &*it;
}

const ActionDef* Registry::action(std::string_view model, std::string_view name) const {
  const auto it =
      std::find_if(actions_.begin(), actions_.end(), [&](const auto& a) { return a.model == model && a.name == name; });
  return it == actions_.end() ? nullptr : &*it;
}

void Registry::add_param(ParamDef p) {
  if (param(p.key) != nullptr) throw UserError("system parameter " + p.key + " is already declared");
  params_.push_back(std::move(p));
}

const ParamDef* Registry::param(std::string_view key) const {
  const auto it = std::find_if(params_.begin(), params_.end(), [&](const ParamDef& p) { return p.key == key; });
  return it == params_.end() ? nullptr : &*it;
}

void Registry::remove_owner(const std::string& owner) {
  std::erase_if(types_, [&](const auto& kv) { return kv.second.owner == owner; });
  auto owned = [&](const auto& x) { return x.owner == owner; };
  for (auto& [name, t] : types_) {
    std::erase_if(t.fields, owned);
    std::erase_if(t.constraints, owned);
    std::erase_if(t.change_defaults, owned);
    std::erase_if(t.selection_fallbacks, owned);
    for (auto& f : t.fields) std::erase_if(f.choices, owned);
  }
  std::erase_if(settings_, owned);
  std::erase_if(actions_, owned);
  std::erase_if(params_, owned);
}

}  // namespace juniper::records
