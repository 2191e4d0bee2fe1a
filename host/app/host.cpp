#include "app/host.hpp"

#include "app/base_declarations.hpp"
#include "core/errors.hpp"
#include "core/log.hpp"
#include "mail/attachment_store.hpp"
#include "mail/fetcher.hpp"
#include "mail/queue.hpp"
#include "mail/records.hpp"
#include "modules/inbox.hpp"
#include "modules/outbox.hpp"
#include "records/claims.hpp"
#include "records/params.hpp"
#include "records/users.hpp"

#include <unistd.h>

#include <cstdlib>

namespace juniper {
namespace fs = std::filesystem;

Host::Host(HostOptions options) : options_(std::move(options)), data_(options_.data_dir), key_(data_.master_key()) {
  log::open(data_.log_file(), options_.log_to_stderr);
  for (const auto& note : data_.permission_notes()) log::warning("data", note);
  // One place for the extra CA (private CAs, tests): every TLS client of the process reads it.
  if (const auto conf = data_.config(); conf.contains("ca_file") && std::getenv("JUNIPER_CA_FILE") == nullptr) {
    ::setenv("JUNIPER_CA_FILE", conf.at("ca_file").c_str(), 0);
  }
  {
    const PrivateUmask private_files;  // a new juniper.db (and its -wal, -shm) is born 0600
    db_ = Database::open(options_.db_url, data_);
  }
  // The mail application's services behind two host calls: mail_release (one statement, inside
  // the caller's transaction if it has one) and message_store (stores and commits one message).
  modules::install_mail_release([](records::Env& env, std::int64_t server_id) { return mail::release_waiting(env, server_id); });
  modules::install_message_store(mail::store_committed);
  auto paths = options_.module_paths.empty() ? default_module_paths() : options_.module_paths;
  modules_ = std::make_unique<modules::ModuleManager>(
      *db_, key_, std::move(paths),
      [this](records::Registry& r, modules::HookBus& h) { declare_base(r, h, [this] { return data_.config(); }); });
}

Host::~Host() = default;

std::vector<fs::path> Host::default_module_paths() {
  std::vector<fs::path> out;
  if (const char* env = std::getenv("JUNIPER_MODULES_PATH"); env != nullptr && *env != '\0') {
    std::string s = env;
    for (std::size_t p = 0; p <= s.size();) {
      const auto q = std::min(s.find(':', p), s.size());
      if (q > p) out.emplace_back(s.substr(p, q - p));
      p = q + 1;
    }
    return out;
  }
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    out.push_back(exe.parent_path() / "modules");
    out.push_back(exe.parent_path().parent_path() / "lib" / "juniper" / "modules");
  }
  return out;
}

namespace {

// Whether `values` touches a field an administrator edits (not one a module keeps up to date,
// such as a token: those are hidden or read-only).
bool edits_settings(const records::Env& env, const std::string& model, const nlohmann::json& values) {
  const records::RecordType* t = env.registry.find_type(model);
  if (t == nullptr) return false;
  for (const auto& [name, v] : values.items()) {
    const records::FieldDef* f = t->field(name);
    if (f != nullptr && !f->readonly && !f->hidden) return true;
  }
  return false;
}

}  // namespace

records::Env Host::env(records::User user) {
  records::Env e = modules_->env(std::move(user));
  e.on_change = [notify = std::move(e.on_change)](records::Env& env, const std::string& model, std::int64_t id,
                                                  std::string_view op, const nlohmann::json& values) {
    if (notify) notify(env, model, id, op, values);
    if (op == "write" && model == mail::kOutgoingServer && edits_settings(env, model, values)) mail::release_waiting(env, id);
    // In the delete's transaction:
    if (op == "delete" && model == mail::kMail) mail::drop_attachments(env, id);
    if (op == "delete" && model == mail::kMessage) mail::drop_attachments(env, id, mail::Owner::message);
  };
  return e;
}

std::optional<std::string> Host::init() {
  auto lock = db_->lock();
  std::optional<std::string> password;
  {
    Transaction tr(db_->session());
    records::ensure_params_table(*db_);
    records::ensure_users_table(*db_);
    modules::ModuleManager::ensure_tables(*db_);
    records::ensure_claims_table(*db_);
    mail::ensure_attachment_table(*db_);
    password = records::ensure_admin(*db_);
    tr.commit();
  }
  modules_->boot();
  {
    Transaction tr(db_->session());
    auto e = env();
    if (!records::param_get(e, "database.secret")) {
      records::param_set(e, "database.secret", crypto::to_hex(crypto::random_bytes(32)), true);
    }
    modules_->sync_schema();
    tr.commit();
  }
  return password;
}

void Host::boot() {
  auto lock = db_->lock();
  if (!db_->table_exists("ir_module_module")) {
    throw UserError("the database " + db_->display_name() + " is not initialised: run `juniper init` first");
  }
  {
    Transaction tr(db_->session());  // a database initialised before the attachment store
    mail::ensure_attachment_table(*db_);
    tr.commit();
  }
  modules_->boot();
  try {
    // An upgraded binary started without `juniper init` first: the schema catches up here (new
    // columns and indexes; a mail's bodies moved out of its row).
    Transaction tr(db_->session());
    modules_->sync_schema();
    tr.commit();
  } catch (const std::exception& e) {
    // Two processes starting on an old database at once: one of them has done it.
    log::warning("db", std::string("bringing the schema up to date at start failed (") + e.what() +
                           "); if this persists, run `juniper init`");
  }
  Transaction tr(db_->session());
  auto e = env();
  mail::sweep_attachments(e);  // pieces of mails deleted behind the records service's back (SQL)
  tr.commit();
}

}  // namespace juniper
