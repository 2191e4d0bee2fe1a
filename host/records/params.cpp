#include "records/params.hpp"

#include "core/errors.hpp"

namespace juniper::records {

void ensure_params_table(Database& db) {
  db.session() << "CREATE TABLE IF NOT EXISTS ir_config_parameter (key TEXT PRIMARY KEY, value TEXT NOT NULL, "
                  "secret " +
                      db.integer_type() + " NOT NULL DEFAULT 0)";
}

namespace {
bool key_is_secret(Env& env, std::string_view key) {
  const SettingDef* s = env.registry.setting_by_parameter(key);
  return s != nullptr && s->secret;
}
}  // namespace

std::optional<std::string> param_get(Env& env, std::string_view key) {
  std::string value;
  int secret = 0;
  const std::string k(key);
  env.sql() << "SELECT value, secret FROM ir_config_parameter WHERE key = :k", soci::use(k), soci::into(value),
      soci::into(secret);
  if (!env.sql().got_data()) return std::nullopt;
  if (secret != 0 || crypto::is_sealed(value)) return crypto::decrypt(env.key, value);
  return value;
}

void param_set(Env& env, std::string_view key, std::string_view value, bool secret) {
  if (key.empty()) throw UserError("a system parameter needs a key");
  if (const ParamDef* def = env.registry.param(key); def != nullptr && def->check) {
    if (const std::string why = def->check(value); !why.empty()) {
      throw UserError("the system parameter " + std::string(key) + " " + why + ", not \"" + std::string(value) + "\"");
    }
  }
  const std::string k(key);
  const bool seal = secret || key_is_secret(env, key);
  const std::string stored = seal ? crypto::encrypt(env.key, value) : std::string(value);
  const int s = seal ? 1 : 0;
  env.sql() << "DELETE FROM ir_config_parameter WHERE key = :k", soci::use(k);
  env.sql() << "INSERT INTO ir_config_parameter (key, value, secret) VALUES (:k, :v, :s)", soci::use(k), soci::use(stored),
      soci::use(s);
}

bool param_unset(Env& env, std::string_view key) {
  const std::string k(key);
  int n = 0;
  env.sql() << "SELECT COUNT(*) FROM ir_config_parameter WHERE key = :k", soci::use(k), soci::into(n);
  env.sql() << "DELETE FROM ir_config_parameter WHERE key = :k", soci::use(k);
  return n > 0;
}

std::vector<ParamEntry> param_list(Env& env) {
  std::vector<ParamEntry> out;
  soci::rowset<soci::row> rs =
      (env.sql().prepare << "SELECT key, value, CAST(secret AS TEXT) FROM ir_config_parameter ORDER BY key");
  for (const auto& r : rs) {
    ParamEntry e;
    e.key = r.get<std::string>(0);
    e.secret = r.get<std::string>(2) != "0" || crypto::is_sealed(r.get<std::string>(1));
    if (!e.secret) e.value = r.get<std::string>(1);
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace juniper::records
