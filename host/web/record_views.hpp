// What the record pages show, as view models for the templates (record, list, field): which
// fields, in which sections, with which values; no markup here.
#pragma once

#include "http/request.hpp"
#include "records/env.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace juniper::web {

// A JSON value as text ("" for null).
std::string str(const nlohmann::json& v);
// "Outgoing Mail Servers" -> "Outgoing Mail Server": type labels are plural (list titles).
std::string singular(std::string label);
// What a record is called on pages: its name (or subject), else "#id".
std::string record_title(const nlohmann::json& rec);
// {"tone": "error"|"ok", "role": ..., "text": ...}, or null when there is nothing to say.
nlohmann::json banner(const std::string& message, bool error);

// One input of a form (template "field"); `type` lets a module's checkbox choice show as one.
nlohmann::json field_model(const records::FieldDef& f, const nlohmann::json& value, const records::RecordType* type = nullptr);
// A computed setting: read-only, with a button that copies it.
nlohmann::json copy_field_model(const records::SettingDef& d, const nlohmann::json& value);

// The values a submitted record form changes (checkboxes absent = false; empty secrets = keep).
// Only what differs from `before` (the stored record, or the defaults of a new one) counts as
// set by the person, so change-defaults (choosing Outlook fills host and port) still apply.
nlohmann::json form_values(const records::RecordType& t, const http::Request& req, const nlohmann::json& before);
nlohmann::json defaults_of(const records::RecordType& t);

// The record page's model (template "record") but the frame (title, csrf, login): breadcrumb,
// heading, badges, the header bar's actions, a message's reading view, the fields by section.
// `modules`: module name -> display name (a module's fields on a host type); `remote_content`: a
// message's HTML with images from elsewhere (asked for by the reader).
nlohmann::json record_model(records::Env& env, const records::RecordType& t, const nlohmann::json& rec,
                            const std::string& message, bool error, const std::map<std::string, std::string>& modules,
                            bool remote_content = false);

// The list page's model (template "list") but the frame: search, sortable headings, one page of
// rows, the pager, all read from the query string.
nlohmann::json list_model(records::Env& env, const records::RecordType& t, const http::Request& req);

}  // namespace juniper::web
