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
  bool badge = false;     // a status shown as a badge coloured by its choices' tones
  bool listed = false;    // always a column of the list (the queue's Next Try and reason)
  bool unlisted = false;  // never a column of the list (a long identifier such as a Message-Id)
  std::vector<Choice> choices;
  std::string relation;
  std::string help;
  std::string owner;
  std::string shown_if;  // "field=value": pages show it only on such records; empty: always
  // Kept in the type's side table (<table>_apart, same id), not in its row: a large value (a mail's
  // body) that SQLite would otherwise copy again at every update of the row's small fields
  // (a queue's state and lease). Host types only.
  bool apart = false;
  // The form section it is shown in ("Connection Information"); empty: above the sections. A
  // module's fields on a type it extends are shown in a section named after the module.
  std::string group;

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

  std::string table() const;        // "ir.mail_server" -> "ir_mail_server"
  std::string apart_table() const;  // "mail_mail_apart": where the fields kept apart live
  bool has_apart() const;
  const FieldDef* field(std::string_view n) const;
  FieldDef* field(std::string_view n);
};

// A system parameter the host (or a module) reads, declared with its check: a value that would
// break its reader is refused when it is set (command line, System Parameters page), with a
// sentence saying what is expected, instead of failing later in a mail run.
struct ParamDef {
  std::string key;
  std::string owner = "base";
  // Empty answer: the value is fine; else what is wrong ("must be a number of seconds ...").
  std::function<std::string(std::string_view value)> check;
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
