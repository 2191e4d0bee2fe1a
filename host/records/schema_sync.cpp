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

void sync_table(Database& db, const RecordType& type) {
  const std::string table = type.table();
  auto& sql = db.session();
  if (!db.table_exists(table)) {
    std::string ddl = "CREATE TABLE " + table + " (" + db.id_column();
    for (const auto& f : type.fields) ddl += ", " + quote(f.name) + " " + column_type(db, f.type);
    sql << ddl + ")";
    sync_indexes(db, type);
    return;
  }
  const auto existing = db.columns(table);
  for (const auto& f : type.fields) {
    if (existing.contains(f.name)) continue;
    sql << "ALTER TABLE " + table + " ADD COLUMN " + quote(f.name) + " " + column_type(db, f.type);
    if (f.default_value) {
      const auto stored = to_storage(f, nlohmann::json(*f.default_value));
      if (stored) sql << "UPDATE " + table + " SET " + quote(f.name) + " = :v", soci::use(*stored);
    }
  }
  sync_indexes(db, type);
}

void drop_column(Database& db, const std::string& table, const std::string& column) {
  if (db.table_exists(table) && db.columns(table).contains(column)) {
    db.session() << "ALTER TABLE " + table + " DROP COLUMN " + quote(column);
  }
}

void drop_table(Database& db, const std::string& table) { db.session() << "DROP TABLE IF EXISTS " + table; }

}  // namespace juniper::records
