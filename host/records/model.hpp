// What the registry knows about record types, settings, actions, routes and hooks. Every entry
// carries its owner ("base" for the host) so a module's part can be dropped on uninstall.
// Callbacks are host-side std::functions: module callbacks are wrapped by modules/ at declare.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace juniper::records {

class Env;

enum class FieldType { chars = 1, text, integer, boolean, selection, datetime, many2one, secret };

std::string_view type_name(FieldType t);

struct Choice {
  std::string value;
  std::string label;
  std::string owner;
  std::string tone;  // badges: "ok", "warning", "error"; empty: neutral
};

struct FieldDef {
  std::string name;
  FieldType type = FieldType::chars;
  std::string label;
  std::optional<std::string> default_value;
  bool required = false;
  bool readonly = false;
  bool hidden = false;
  bool badge = false;   // a status shown as a badge coloured by its choices' tones
  bool listed = false;  // always a column of the list (the queue's Next Try and reason)
  std::vector<Choice> choices;
  std::string relation;
  std::string help;
  std::string owner;
  std::string shown_if;  // "field=value": pages show it only on such records; empty: always

  bool is_secret() const noexcept { return type == FieldType::secret; }
  bool has_choice(std::string_view v) const;
};

// Throws UserError naming the record to refuse a create/write.
using ConstraintFn = std::function<void(Env&, const std::string& model, const nlohmann::json& record)>;

struct Constraint {
  std::set<std::string> fields;  // empty: any change triggers it
  ConstraintFn check;
  std::string owner;
};

struct ChangeDefault {
  std::string field;
  std::string value;
  nlohmann::json values;
  std::string owner;
};

// Values a module added to a selection: records holding them get `fallback` at uninstall.
struct SelectionFallback {
  std::string field;
  std::vector<std::string> values;
  std::string fallback;
  std::string owner;
  std::string checkbox_label;  // forms show the (single) value as this checkbox; empty: a plain choice
};

struct RecordType {
  std::string name;
  std::string label;
  std::string order = "id";
  std::string owner;
  std::vector<FieldDef> fields;
  std::vector<Constraint> constraints;
  std::vector<ChangeDefault> change_defaults;
  std::vector<SelectionFallback> selection_fallbacks;
  std::vector<std::vector<std::string>> indexes;  // column lists; host types only (queue and dedup lookups)
  bool creatable = true;  // false: made by the host only (Emails come from Compose, messages from a fetch)

  std::string table() const;  // "ir.mail_server" -> "ir_mail_server"
  const FieldDef* field(std::string_view n) const;
  FieldDef* field(std::string_view n);
};

struct SettingDef {
  std::string name;
  std::string config_parameter;
  FieldType type = FieldType::chars;
  std::string label;
  std::optional<std::string> default_value;
  bool secret = false;
  std::string group;
  std::string block;
  std::string shown_if;
  std::string help;
  std::vector<Choice> choices;
  std::string owner;
  // Read-only, computed by its module whenever shown; stores nothing (SDK 1.5).
  std::function<std::string(Env&)> compute;
};

using ActionVisibleFn = std::function<bool(Env&, const nlohmann::json& record)>;
using ActionFn = std::function<nlohmann::json(Env&, std::int64_t id)>;

struct ActionDef {
  std::string model;
  std::string name;
  std::string label;
  bool admin_only = false;
  bool own_transactions = false;  // runs its own commits (fetch: store, commit, then \Seen)
  bool hidden = false;            // no button: a follow-up or a command-line action
  ActionVisibleFn visible;        // empty: always
  ActionFn invoke;
  std::string owner;
};

}  // namespace juniper::records
