// DDL generated from the registry, for SQLite and PostgreSQL alike. Runs inside the caller's
// transaction, so a failed module install leaves the schema as it was.
#pragma once

#include "records/env.hpp"

namespace juniper::records {

// Creates the table of `type` or adds its missing columns (existing rows get the defaults).
void sync_table(Database& db, const RecordType& type);
void drop_column(Database& db, const std::string& table, const std::string& column);
void drop_table(Database& db, const std::string& table);

std::string column_type(Database& db, FieldType t);

}  // namespace juniper::records
