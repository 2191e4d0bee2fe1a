#include "records/values.hpp"

#include "core/errors.hpp"

#include <algorithm>
#include <charconv>
#include <regex>

namespace juniper::records {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

UserError bad(const FieldDef& f, const std::string& why) {
  return UserError("invalid value for field " + f.name + " (" + f.label + "): " + why);
}

std::int64_t to_int(const FieldDef& f, const nlohmann::json& v) {
  if (v.is_number_integer()) return v.get<std::int64_t>();
  if (v.is_boolean()) return v.get<bool>() ? 1 : 0;
  if (v.is_string()) {
    const std::string s = v.get<std::string>();
    std::int64_t out = 0;
    const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    if (ec == std::errc() && p == s.data() + s.size()) return out;
  }
  throw bad(f, "expected an integer, got " + v.dump());
}

}  // namespace

nlohmann::json normalise(const FieldDef& f, const nlohmann::json& v) {
  if (v.is_null() || (v.is_string() && v.get<std::string>().empty() && f.type != FieldType::chars && f.type != FieldType::text &&
                      f.type != FieldType::secret)) {
    return nullptr;
  }
  switch (f.type) {
    case FieldType::chars:
    case FieldType::text:
    case FieldType::secret:
      if (v.is_string()) return v;
      if (v.is_number() || v.is_boolean()) return v.dump();
      throw bad(f, "expected text");
    case FieldType::integer:
    case FieldType::many2one:
      return to_int(f, v);
    case FieldType::boolean: {
      if (v.is_boolean()) return v;
      if (v.is_number_integer()) return v.get<std::int64_t>() != 0;
      const std::string s = v.is_string() ? lower(v.get<std::string>()) : "";
      if (s == "1" || s == "true" || s == "yes" || s == "on") return true;
      if (s == "0" || s == "false" || s == "no" || s == "off") return false;
      throw bad(f, "expected true or false, got " + v.dump());
    }
    case FieldType::selection: {
      const std::string s = v.is_string() ? v.get<std::string>() : v.dump();
      if (!f.has_choice(s)) {
        std::string allowed;
        for (const auto& c : f.choices) allowed += (allowed.empty() ? "" : ", ") + c.value;
        throw bad(f, "'" + s + "' is not one of: " + allowed);
      }
      return s;
    }
    case FieldType::datetime: {
      static const std::regex iso(R"(\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?)");
      if (v.is_string() && std::regex_match(v.get<std::string>(), iso)) return v;
      throw bad(f, "expected an ISO 8601 date and time such as 2026-11-25T13:44:56Z");
    }
  }
  return v;
}

std::optional<std::string> to_storage(const FieldDef& f, const nlohmann::json& value) {
  const nlohmann::json v = normalise(f, value);
  if (v.is_null()) return std::nullopt;
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "1" : "0";
  return v.dump();
}

nlohmann::json from_storage(const FieldDef& f, const std::optional<std::string>& text) {
  if (!text) {
    if (f.type == FieldType::boolean) return false;
    return nullptr;
  }
  switch (f.type) {
    case FieldType::integer:
    case FieldType::many2one:
      return std::stoll(*text);
    case FieldType::boolean:
      return *text != "0" && !text->empty();
    default:
      return *text;
  }
}

}  // namespace juniper::records
