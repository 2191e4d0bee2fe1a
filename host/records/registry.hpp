// The set of record types, settings and actions in force: the host's own plus those of every
// started module. Built once, then read concurrently; changes build a new Registry.
#pragma once

#include "records/model.hpp"

#include <map>

namespace juniper::records {

class Registry {
 public:
  void add_type(RecordType t);  // throws UserError on a duplicate
  // Adds fields to an existing type; `owner` must be allowed to (checked by the caller).
  void extend_type(const std::string& name, std::vector<FieldDef> fields, const std::string& owner);
  void add_setting(SettingDef s);
  void add_action(ActionDef a);
  void add_param(ParamDef p);  // throws UserError on a duplicate key

  const RecordType& type(std::string_view name) const;  // throws UserError "unknown model"
  RecordType& type_mut(std::string_view name);
  const RecordType* find_type(std::string_view name) const;
  const std::map<std::string, RecordType, std::less<>>& types() const noexcept { return types_; }

  const std::vector<SettingDef>& settings() const noexcept { return settings_; }
  const SettingDef* setting(std::string_view name) const;
  const SettingDef* setting_by_parameter(std::string_view key) const;

  const ParamDef* param(std::string_view key) const;
  const std::vector<ActionDef>& actions() const noexcept { return actions_; }
  const ActionDef* action(std::string_view model, std::string_view name) const;

  // Everything `owner` declared, gone (its types, its fields and choices on others' types...).
  void remove_owner(const std::string& owner);

 private:
  std::map<std::string, RecordType, std::less<>> types_;
  std::vector<SettingDef> settings_;
  std::vector<ActionDef> actions_;
  std::vector<ParamDef> params_;
};

}  // namespace juniper::records
