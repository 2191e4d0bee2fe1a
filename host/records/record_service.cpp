#include "records/record_service.hpp"

#include "core/errors.hpp"
#include "records/values.hpp"

#include <algorithm>
#include <regex>

namespace juniper::records {
namespace {

void check_order(const RecordType& t) {
  static const std::regex ok(R"([a-z_][a-z0-9_]*( (asc|desc|ASC|DESC))?(, *[a-z_][a-z0-9_]*( (asc|desc|ASC|DESC))?)*)");
  if (!std::regex_match(t.order, ok)) throw std::logic_error("bad order on " + t.name);
}

std::vector<const FieldDef*> all_fields(const RecordType& t) {
  std::vector<const FieldDef*> out;
  for (const auto& f : t.fields) out.push_back(&f);
  return out;
}

std::string select_list(const RecordType& t, const std::vector<const FieldDef*>& fields) {
  std::string s = "CAST(" + t.table() + ".id AS TEXT)";
  for (const auto* f : fields) s += ", CAST(" + quote(f->name) + " AS TEXT)";
  return s;
}

// The row, joined with the side table when one of `fields` is kept apart.
std::string from_clause(const RecordType& t, const std::vector<const FieldDef*>& fields) {
  const bool join = std::any_of(fields.begin(), fields.end(), [](const FieldDef* f) { return f->apart; });
  return " FROM " + t.table() +
         (join ? " LEFT JOIN " + t.apart_table() + " ON " + t.apart_table() + ".id = " + t.table() + ".id" : "");
}

// A condition on field `f` for a WHERE over the type's table: a field kept apart is looked up in
// the side table ("id IN (...)"); `predicate` is written against the bare column name.
std::string condition(const RecordType& t, const FieldDef& f, const std::string& predicate) {
  if (!f.apart) return predicate;
  return "id IN (SELECT id FROM " + t.apart_table() + " WHERE " + predicate + ")";
}

nlohmann::json row_to_json(Env& env, const std::vector<const FieldDef*>& fields, const soci::row& row, Secrets secrets) {
  nlohmann::json out = nlohmann::json::object();
  out["id"] = std::stoll(row.get<std::string>(0));
  for (std::size_t i = 0; i < fields.size(); ++i) {
    const FieldDef& f = *fields[i];
    std::optional<std::string> text;
    if (row.get_indicator(i + 1) != soci::i_null) text = row.get<std::string>(i + 1);
    if (f.is_secret()) {
      if (secrets == Secrets::masked) {
        out[f.name] = text && !text->empty() ? nlohmann::json("set") : nlohmann::json(nullptr);
        continue;
      }
      if (text && crypto::is_sealed(*text)) text = crypto::decrypt(env.key, *text);
    }
    out[f.name] = from_storage(f, text);
  }
  return out;
}

const FieldDef& field_of(const RecordType& t, const std::string& name) {
  const FieldDef* f = t.field(name);
  if (f == nullptr) throw UserError("unknown field '" + name + "' on model " + t.name);
  return *f;
}

// Applies change-defaults: a field set to a trigger value fills the fields not set explicitly.
void apply_change_defaults(const RecordType& t, const nlohmann::json& explicit_values, nlohmann::json& record) {
  for (const auto& cd : t.change_defaults) {
    if (!explicit_values.contains(cd.field)) continue;
    const auto& v = record[cd.field];
    if (!(v.is_string() && v.get<std::string>() == cd.value)) continue;
    for (const auto& [k, val] : cd.values.items()) {
      if (!explicit_values.contains(k) && t.field(k) != nullptr) record[k] = normalise(*t.field(k), val);
    }
  }
}

void check_required(const RecordType& t, const nlohmann::json& record) {
  for (const auto& f : t.fields) {
    const auto& v = record[f.name];
    if (f.required && (v.is_null() || (v.is_string() && v.get<std::string>().empty()))) {
      throw UserError("the field " + f.label + " (" + f.name + ") is required on " + describe(t, record));
    }
  }
}

void run_constraints(Env& env, const RecordType& t, const nlohmann::json& record, const nlohmann::json& changed) {
  for (const auto& c : t.constraints) {
    bool hit = c.fields.empty();
    for (const auto& f : c.fields) hit = hit || changed.contains(f);
    if (hit) c.check(env, t.name, record);
  }
}

std::vector<std::pair<std::string, std::optional<std::string>>> storage_values(Env& env, const RecordType& t,
                                                                               const nlohmann::json& record,
                                                                               const nlohmann::json& only) {
  std::vector<std::pair<std::string, std::optional<std::string>>> out;
  for (const auto& f : t.fields) {
    if (!only.is_null() && !only.contains(f.name)) continue;
    auto v = to_storage(f, record[f.name]);
    if (v && f.is_secret() && !v->empty()) v = crypto::encrypt(env.key, *v);
    out.emplace_back(f.name, std::move(v));
  }
  return out;
}

nlohmann::json normalised_input(const RecordType& t, const nlohmann::json& values) {
  if (!values.is_object()) throw UserError("values must be a JSON object of field names");
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [k, v] : values.items()) {
    if (k == "id") throw UserError("the id of a record cannot be set");
    out[k] = normalise(field_of(t, k), v);
  }
  return out;
}

}  // namespace

std::string describe(const RecordType& type, const nlohmann::json& record) {
  std::string s = type.name;
  if (record.contains("id") && record["id"].is_number()) s += " " + record["id"].dump();
  if (record.contains("name") && record["name"].is_string() && !record["name"].get<std::string>().empty()) {
    s += " (" + record["name"].get<std::string>() + ")";
  }
  return s;
}

namespace {
nlohmann::json read_row(Env& env, const RecordType& t, std::int64_t id, const std::vector<const FieldDef*>& fields,
                        Secrets secrets) {
  soci::row row;
  env.sql() << "SELECT " + select_list(t, fields) + from_clause(t, fields) + " WHERE " + t.table() + ".id = :id", soci::use(id),
      soci::into(row);
  if (!env.sql().got_data()) throw NotFoundError("record " + t.name + " " + std::to_string(id) + " does not exist");
  return row_to_json(env, fields, row, secrets);
}
}  // namespace

nlohmann::json read(Env& env, std::string_view model, std::int64_t id, Secrets secrets) {
  const RecordType& t = env.registry.type(model);
  return read_row(env, t, id, all_fields(t), secrets);
}

nlohmann::json read_fields(Env& env, std::string_view model, std::int64_t id, const std::vector<std::string>& names) {
  const RecordType& t = env.registry.type(model);
  std::vector<const FieldDef*> fields;
  for (const auto& n : names) fields.push_back(&field_of(t, n));
  return read_row(env, t, id, fields, Secrets::masked);
}

namespace {

// The ids a query selects, its parameters bound as text in order (:p0, :p1, ...).
std::vector<std::int64_t> select_ids(Env& env, const std::string& q, const std::vector<std::string>& binds) {
  soci::statement st(env.sql());
  std::string idtext;
  st.exchange(soci::into(idtext));
  std::vector<std::string> holders(binds);
  for (auto& h : holders) st.exchange(soci::use(h));
  st.alloc();
  st.prepare(q);
  st.define_and_bind();
  std::vector<std::int64_t> ids;
  if (st.execute(true)) {
    do {
      ids.push_back(std::stoll(idtext));
    } while (st.fetch());
  }
  return ids;
}

std::string page_clause(Env& env, std::optional<std::size_t> limit, std::size_t offset) {
  std::string q;
  if (limit) q += " LIMIT " + std::to_string(*limit);
  if (offset > 0) {
    if (!limit) q += env.db.is_postgres() ? " LIMIT ALL" : " LIMIT -1";
    q += " OFFSET " + std::to_string(offset);
  }
  return q;
}

// "50%_off" -> "%50\%\_off%": a substring, the user's wildcards taken literally.
std::string contains_pattern(std::string_view text) {
  std::string p = "%";
  for (char c : text) {
    if (c == '%' || c == '_' || c == '\\') p += '\\';
    p += c;
  }
  return p + "%";
}

}  // namespace

std::vector<std::int64_t> search(Env& env, std::string_view model, const nlohmann::json& filter, std::optional<std::size_t> limit,
                                 std::size_t offset) {
  const RecordType& t = env.registry.type(model);
  check_order(t);
  std::string where;
  std::vector<std::string> binds;
  for (const auto& [k, v] : filter.items()) {
    const FieldDef& f = k == "id" ? FieldDef{.name = "id", .type = FieldType::integer, .label = "ID"} : field_of(t, k);
    if (f.is_secret()) throw UserError("cannot search on the secret field " + k);
    auto stored = to_storage(f, v);
    where += where.empty() ? " WHERE " : " AND ";
    if (!stored) {
      where += f.apart ? "id NOT IN (SELECT id FROM " + t.apart_table() + " WHERE " + quote(k) + " IS NOT NULL)"
                       : quote(k) + " IS NULL";
      continue;
    }
    where += condition(t, f, quote(k) + " = :p" + std::to_string(binds.size()));
    binds.push_back(std::move(*stored));
  }
  return select_ids(
      env, "SELECT CAST(id AS TEXT) FROM " + t.table() + where + " ORDER BY " + t.order + page_clause(env, limit, offset), binds);
}

std::vector<std::int64_t> search_page(Env& env, std::string_view model, const PageQuery& query, std::size_t limit,
                                      std::size_t offset) {
  const RecordType& t = env.registry.type(model);
  check_order(t);
  std::string where;
  std::vector<std::string> binds;
  if (!query.text.empty()) {
    // A case-insensitive substring of any of the fields: SQLite's LIKE ignores ASCII case already
    // (a LOWER() per row made a search over 100 000 mails several times slower), PostgreSQL's ILIKE
    // any case. The fields searched are text columns on both.
    const std::string like = env.db.is_postgres() ? " ILIKE :p" : " LIKE :p";
    for (const auto& name : query.text_fields) {
      const FieldDef& f = field_of(t, name);
      if (f.is_secret() || f.type == FieldType::integer || f.type == FieldType::boolean || f.type == FieldType::many2one)
        throw UserError("cannot search for text in the field " + name);
      where += (where.empty() ? " WHERE (" : " OR ") +
               condition(t, f, quote(name) + like + std::to_string(binds.size()) + " ESCAPE '\\'");
      binds.push_back(contains_pattern(query.text));
    }
    if (!where.empty()) where += ")";
  }
  std::string order = t.order;
  if (!query.order_field.empty()) {
    // A declared field of the row, nothing else.
    if (query.order_field != "id" && field_of(t, query.order_field).apart)
      throw UserError("cannot sort on " + query.order_field + ": it is kept apart from the rows");
    const std::string dir = query.descending ? " DESC" : " ASC";
    order = quote(query.order_field) + dir + (query.order_field == "id" ? "" : ", id" + dir);
  }
  return select_ids(
      env, "SELECT CAST(id AS TEXT) FROM " + t.table() + where + " ORDER BY " + order + page_clause(env, limit, offset), binds);
}

std::vector<nlohmann::json> list(Env& env, std::string_view model, const nlohmann::json& filter, Secrets secrets) {
  std::vector<nlohmann::json> out;
  for (auto id : search(env, model, filter)) out.push_back(read(env, model, id, secrets));
  return out;
}

namespace {

using Columns = std::vector<std::pair<std::string, std::optional<std::string>>>;

// The values of the row, and those kept apart in the side table.
std::pair<Columns, Columns> split_apart(const RecordType& t, Columns cols) {
  Columns row, side;
  for (auto& c : cols) (t.field(c.first)->apart ? side : row).push_back(std::move(c));
  return {std::move(row), std::move(side)};
}

// Runs `q` with `cols` bound to :p0, :p1, ... (NULL where empty), then `id_after` if given; the
// statement's single result into `id_out` if given.
void execute(Env& env, const std::string& q, const Columns& cols, const std::int64_t* id_after, std::int64_t* id_out) {
  soci::statement st(env.sql());
  std::vector<std::string> holders;
  std::vector<soci::indicator> inds;
  holders.reserve(cols.size());
  inds.reserve(cols.size());
  for (const auto& c : cols) {
    holders.push_back(c.second.value_or(""));
    inds.push_back(c.second ? soci::i_ok : soci::i_null);
    st.exchange(soci::use(holders.back(), inds.back()));
  }
  std::int64_t id = id_after ? *id_after : 0;
  if (id_after) st.exchange(soci::use(id));
  if (id_out) st.exchange(soci::into(*id_out));
  st.alloc();
  st.prepare(q);
  st.define_and_bind();
  st.execute(true);
}

// Writes the fields kept apart of record `id`: its side row, made if missing.
void put_apart(Env& env, const RecordType& t, std::int64_t id, const Columns& side) {
  std::string names, params, sets;
  for (std::size_t i = 0; i < side.size(); ++i) {
    const std::string n = quote(side[i].first);
    names += ", " + n;
    params += ", :p" + std::to_string(i);
    sets += (i ? ", " : "") + n + " = excluded." + n;
  }
  execute(env,
          "INSERT INTO " + t.apart_table() + " (" + names.substr(2) + ", id) VALUES (" + params.substr(2) +
              ", :id) ON CONFLICT (id) DO UPDATE SET " + sets,
          side, &id, nullptr);
}

}  // namespace

std::int64_t create(Env& env, std::string_view model, const nlohmann::json& values) {
  const RecordType& t = env.registry.type(model);
  const nlohmann::json input = normalised_input(t, values);
  nlohmann::json record = nlohmann::json::object();
  for (const auto& f : t.fields) {
    record[f.name] = f.default_value ? normalise(f, nlohmann::json(*f.default_value)) : nlohmann::json(nullptr);
    if (f.type == FieldType::boolean && record[f.name].is_null()) record[f.name] = false;
  }
  for (const auto& [k, v] : input.items()) record[k] = v;
  apply_change_defaults(t, input, record);
  check_required(t, record);
  nlohmann::json all_changed = nlohmann::json::object();
  for (const auto& f : t.fields) all_changed[f.name] = true;
  run_constraints(env, t, record, all_changed);

  const auto [row, side] = split_apart(t, storage_values(env, t, record, nullptr));
  std::string names, params;
  for (std::size_t i = 0; i < row.size(); ++i) {
    names += (i ? ", " : "") + quote(row[i].first);
    params += (i ? ", :p" : ":p") + std::to_string(i);
  }
  std::int64_t id = 0;
  execute(env,
          row.empty() ? "INSERT INTO " + t.table() + " DEFAULT VALUES RETURNING id"
                      : "INSERT INTO " + t.table() + " (" + names + ") VALUES (" + params + ") RETURNING id",
          row, nullptr, &id);
  if (!side.empty()) put_apart(env, t, id, side);
  if (env.on_change) env.on_change(env, t.name, id, "create", values);
  return id;
}

void write(Env& env, std::string_view model, std::int64_t id, const nlohmann::json& values) {
  const RecordType& t = env.registry.type(model);
  const nlohmann::json input = normalised_input(t, values);
  nlohmann::json record = read(env, model, id, Secrets::revealed);
  for (const auto& [k, v] : input.items()) record[k] = v;
  apply_change_defaults(t, input, record);
  check_required(t, record);
  nlohmann::json changed = input;
  for (const auto& cd : t.change_defaults) {
    if (input.contains(cd.field)) {
      for (const auto& [k, v] : cd.values.items()) changed[k] = true;
    }
  }
  run_constraints(env, t, record, changed);
  const auto [row, side] = split_apart(t, storage_values(env, t, record, changed));
  if (row.empty() && side.empty()) return;
  if (!row.empty()) {
    std::string sets;
    for (std::size_t i = 0; i < row.size(); ++i) sets += (i ? ", " : "") + quote(row[i].first) + " = :p" + std::to_string(i);
    execute(env, "UPDATE " + t.table() + " SET " + sets + " WHERE id = :id", row, &id, nullptr);
  }
  if (!side.empty()) put_apart(env, t, id, side);
  if (env.on_change) env.on_change(env, t.name, id, "write", values);
}

void remove(Env& env, std::string_view model, std::int64_t id) {
  const RecordType& t = env.registry.type(model);
  read(env, model, id);  // refuses a missing record with a clear message
  if (t.has_apart()) env.sql() << "DELETE FROM " + t.apart_table() + " WHERE id = :id", soci::use(id);
  env.sql() << "DELETE FROM " + t.table() + " WHERE id = :id", soci::use(id);
  if (env.on_change) env.on_change(env, t.name, id, "delete", nlohmann::json::object());
}

}  // namespace juniper::records
