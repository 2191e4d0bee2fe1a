// Everything a record operation needs: the database, the registry in force, the master key for
// secrets and who is acting. One Env per request or command.
#pragma once

#include "core/crypto.hpp"
#include "db/database.hpp"
#include "records/registry.hpp"

#include <nlohmann/json.hpp>

#include <functional>
#include <memory>
#include <string>

namespace juniper::records {

struct User {
  std::int64_t id = 0;
  std::string login = "__system__";
  bool is_admin = true;
};

// Called after a record is created, written or deleted (inside the same transaction), with the
// values given (none for a delete).
using ChangeObserver =
    std::function<void(class Env&, const std::string& model, std::int64_t id, std::string_view op, const nlohmann::json& values)>;

class Env {
 public:
  // `reg` is the snapshot in force when the Env was made: an install or uninstall meanwhile
  // swaps in a new one and never changes this one under the caller's feet.
  Env(Database& database, std::shared_ptr<const Registry> reg, const crypto::Bytes& master_key, User who = {})
      : db(database), snapshot(std::move(reg)), registry(*snapshot), key(master_key), user(std::move(who)) {}
  // A registry the caller keeps alive (a module install's staged registry).
  Env(Database& database, const Registry& reg, const crypto::Bytes& master_key, User who = {})
      : db(database), registry(reg), key(master_key), user(std::move(who)) {}

  soci::session& sql() { return db.session(); }

  Database& db;
  std::shared_ptr<const Registry> snapshot;  // keeps `registry` alive when the Env owns it
  const Registry& registry;
  const crypto::Bytes& key;
  User user;
  ChangeObserver on_change;
};

}  // namespace juniper::records
