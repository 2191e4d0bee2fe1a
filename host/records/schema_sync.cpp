#include "records/schema_sync.hpp"

#include "records/values.hpp"

namespace juniper::records {

std::string column_type(Database& db, FieldType t) {
  switch (t) {
    case FieldType::integer:
    case FieldType::boolean:
    case FieldType::many2one:
      return db.integer_type();
    default:
      return "TEXT";
  }
}

namespace {

void sync_indexes(Database& db, const RecordType& type) {
  const std::string table = type.table();
  for (const auto& columns : type.indexes) {
    std::string name = table, list;
    for (const auto& c : columns) {
      name += "_" + c;
      list += (list.empty() ? "" : ", ") + quote(c);
    }
    db.session() << "CREATE INDEX IF NOT EXISTS " + name + "_idx ON " + table + " (" + list + ")";
  }
}

}  // namespace

namespace {

// The side table of the fields kept apart, and the move of their values out of the row for a
// database made before they were (one statement per field, then the row's column is dropped).
void sync_apart(Database& db, const RecordType& type) {
  if (!type.has_apart()) return;
  const std::string table = type.table(), side = type.apart_table();
  auto& sql = db.session();
  if (!db.table_exists(side)) {
    // Same id as the record's row; SQLite's INTEGER PRIMARY KEY is the rowid itself.
    sql << "CREATE TABLE " + side + " (id " + (db.is_postgres() ? "BIGINT" : "INTEGER") + " PRIMARY KEY)";
  }
  const auto existing = db.columns(side);
  const auto in_row = db.columns(table);
  for (const auto& f : type.fields) {
    if (!f.apart) continue;
    if (!existing.contains(f.name)) sql << "ALTER TABLE " + side + " ADD COLUMN " + quote(f.name) + " " + column_type(db, f.type);
    if (!in_row.contains(f.name)) continue;
    sql << "INSERT INTO " + side + " (id) SELECT id FROM " + table + " WHERE " + quote(f.name) +
               " IS NOT NULL AND id NOT IN (SELECT id FROM " + side + ")";
    sql << "UPDATE " + side + " SET " + quote(f.name) + " = (SELECT " + quote(f.name) + " FROM " + table + " WHERE " + table +
               ".id = " + side + ".id) WHERE id IN (SELECT id FROM " + table + " WHERE " + quote(f.name) + " IS NOT NULL)";
    sql << "ALTER TABLE " + table + " DROP COLUMN " + quote(f.name);
  }
}

}  // namespace

void sync_table(Database& db, const RecordType& type) {
  const std::string table = type.table();
  auto& sql = db.session();
  if (!db.table_exists(table)) {
    std::string ddl = "CREATE TABLE " + table + " (" + db.id_column();
    for (const auto& f : type.fields)
      if (!f.apart) ddl += ", " + quote(f.name) + " " + column_type(db, f.type);
    sql << ddl + ")";
    sync_indexes(db, type);
    sync_apart(db, type);
    return;
  }
  const auto existing = db.columns(table);
  for (const auto& f : type.fields) {
    if (f.apart || existing.contains(f.name)) continue;
    sql << "ALTER TABLE " + table + " ADD COLUMN " + quote(f.name) + " " + column_type(db, f.type);
    if (f.default_value) {
      const auto stored = to_storage(f, nlohmann::json(*f.default_value));
      if (stored) sql << "UPDATE " + table + " SET " + quote(f.name) + " = :v", soci::use(*stored);
    }
  }
  sync_indexes(db, type);
  sync_apart(db, type);
}

void drop_column(Database& db, const std::string& table, const std::string& column) {
  if (db.table_exists(table) && db.columns(table).contains(column)) {
    db.session() << "ALTER TABLE " + table + " DROP COLUMN " + quote(column);
  }
}

void drop_table(Database& db, const std::string& table) { db.session() << "DROP TABLE IF EXISTS " + table; }

}  // namespace juniper::records
