// The one way records are written: CLI, web pages and modules all come through here, so
// defaults, change-defaults, required fields, selections and constraints hold for everyone.
#pragma once

#include "records/env.hpp"

#include <optional>
#include <string>
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
// What a list page asks for: a text found in any of `text_fields`, sorted by one field.
struct PageQuery {
  std::string text;                      // "" = every record
  std::vector<std::string> text_fields;  // declared, non-secret fields
  std::string order_field;               // a declared field or "id"; "" = the type's order
  bool descending = false;
};
// Ids of one page of a list, `limit` after `offset`: the search and the sort done by the database.
std::vector<std::int64_t> search_page(Env& env, std::string_view model, const PageQuery& query, std::size_t limit,
                                      std::size_t offset);
std::vector<nlohmann::json> list(Env& env, std::string_view model, const nlohmann::json& filter = nlohmann::json::object(),
                                 Secrets secrets = Secrets::masked);

std::int64_t create(Env& env, std::string_view model, const nlohmann::json& values);
void write(Env& env, std::string_view model, std::int64_t id, const nlohmann::json& values);
void remove(Env& env, std::string_view model, std::int64_t id);

// "ir.mail_server 3 (Notifications)": how messages name a record.
std::string describe(const RecordType& type, const nlohmann::json& record);

}  // namespace juniper::records
