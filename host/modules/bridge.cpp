#include "modules/bridge.hpp"
#include "modules/mail_services.hpp"

#include "core/ca_bundle.hpp"
#include "core/crypto.hpp"
#include "core/errors.hpp"
#include "core/log.hpp"
#include "http/client.hpp"
#include "http/request.hpp"
#include "modules/declarations.hpp"
#include "modules/hook_bus.hpp"
#include "modules/inbox.hpp"
#include "modules/outbox.hpp"
#include "records/claims.hpp"
#include "records/params.hpp"
#include "records/record_service.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <regex>
#include <set>

namespace juniper::modules {
namespace {

constexpr std::string_view kDatabaseSecret = "database.secret";  // the host's key for stored secrets

using records::FieldType;

std::string s(const char* c) { return c ? std::string(c) : std::string(); }

// Descriptors may come from a module built against an older (smaller) struct: copy what it
// has, zero the rest; refuse a bigger one ("more than this host supports").
template <class T>
T sized_copy(const T* in, std::string_view what) {
  if (in == nullptr) throw UserError(std::string(what) + " descriptor is missing");
  if (in->struct_size > sizeof(T)) {
    throw UserError(std::string(what) + " descriptor is newer than this host supports (size " + std::to_string(in->struct_size) +
                    " > " + std::to_string(sizeof(T)) + ")");
  }
  if (in->struct_size < sizeof(uint32_t)) throw UserError(std::string(what) + " descriptor has no size");
  T out{};
  std::memcpy(&out, in, in->struct_size);
  return out;
}

// Element i of a module's array of sized structs. The stride is the module's struct_size, not
// the host's sizeof: an older module's elements are smaller.
template <class T>
T sized_element(const T* array, size_t i, std::string_view what) {
  if (array == nullptr) throw UserError(std::string(what) + " descriptors are missing");
  const T first = sized_copy(array, what);  // refuses a bigger or sizeless first element
  if (first.struct_size % alignof(T) != 0) {
    throw UserError(std::string(what) + " descriptor size " + std::to_string(first.struct_size) + " is not a struct's size");
  }
  const char* base = reinterpret_cast<const char*>(array);
  return sized_copy(reinterpret_cast<const T*>(base + i * first.struct_size), what);
}

FieldType field_type(juniper_field_type t, const std::string& field) {
  if (t < JUNIPER_FIELD_CHAR || t > JUNIPER_FIELD_SECRET) {
    throw UserError("field " + field + " has an unknown type " + std::to_string(t));
  }
  return static_cast<FieldType>(t);
}

std::vector<records::Choice> choices(const juniper_selection_item* items, size_t n, const std::string& owner) {
  std::vector<records::Choice> out;
  for (size_t i = 0; i < n; ++i) out.push_back({s(items[i].value), s(items[i].label), owner});
  return out;
}

// Badge colours, one per choice (zero from older modules reads as none).
void add_tones(records::FieldDef& def, const char* const* tones, const std::string& type) {
  static const std::set<std::string> known{"", "ok", "warning", "error"};
  for (auto& c : def.choices) {
    c.tone = s(tones[&c - def.choices.data()]);
    if (!known.contains(c.tone)) {
      throw UserError("field " + def.name + " on " + type + ": the tone of \"" + c.value + "\" must be ok, warning or error");
    }
  }
}

std::vector<records::FieldDef> fields(const juniper_record_type_desc& d, const std::string& owner) {
  static const std::regex name_ok("[a-z][a-z0-9_]*");
  std::vector<records::FieldDef> out;
  for (size_t i = 0; i < d.field_count; ++i) {
    const auto f = sized_element(d.fields, i, "field");
    records::FieldDef def;
    def.name = s(f.name);
    if (!std::regex_match(def.name, name_ok) || def.name == "id") {
      throw UserError("invalid field name '" + def.name + "' on " + s(d.name));
    }
    def.type = field_type(f.type, def.name);
    def.label = f.label ? f.label : def.name;
    if (f.default_value) def.default_value = f.default_value;
    def.required = (f.flags & JUNIPER_FIELD_REQUIRED) != 0;
    def.readonly = (f.flags & JUNIPER_FIELD_READONLY) != 0;
    def.hidden = (f.flags & JUNIPER_FIELD_HIDDEN) != 0;
    def.badge = (f.flags & JUNIPER_FIELD_BADGE) != 0;
    def.choices = choices(f.selection, f.selection_count, owner);
    if (f.selection_tones != nullptr) add_tones(def, f.selection_tones, s(d.name));
    def.relation = s(f.relation);
    def.help = s(f.help);
    def.shown_if = s(f.shown_if);  // zero (older modules) reads as empty
    if (!def.shown_if.empty() && def.shown_if.find('=') == std::string::npos) {
      throw UserError("field " + def.name + " on " + s(d.name) + ": shown_if must be \"field=value\"");
    }
    def.owner = owner;
    if (def.type == FieldType::selection && def.choices.empty()) {
      throw UserError("selection field " + def.name + " on " + s(d.name) + " has no values");
    }
    out.push_back(std::move(def));
  }
  return out;
}

void check_extendable(juniper_registrar* reg, const records::RecordType& t) {
  if (t.owner != reg->module && !reg->may_extend.contains(t.owner)) {
    throw UserError("module " + reg->module + " extends " + t.name + ", owned by " + t.owner +
                    ", which is not among its dependencies");
  }
}

bool in_namespace(const std::string& module, const std::string& name) {
  return name.starts_with(module + ".") || name.starts_with(module + "_");
}

records::Env& env_of(juniper_ctx* ctx) {
  if (ctx == nullptr || ctx->env == nullptr) throw std::logic_error("no call context");
  return *ctx->env;
}

// ---- registrar -------------------------------------------------------------------------------

juniper_status declare_record_type(juniper_registrar* reg, const juniper_record_type_desc* in, juniper_error* err) {
  return guarded(err, [&] {
    const auto d = sized_copy(in, "record type");
    records::RecordType t;
    t.name = s(d.name);
    if (!in_namespace(reg->module, t.name)) {
      throw UserError("module " + reg->module + " declares record type '" + t.name + "' outside its namespace (" + reg->module +
                      ".*)");
    }
    t.label = d.label ? d.label : t.name;
    t.order = d.order ? d.order : "id";
    t.owner = reg->module;
    t.fields = fields(d, reg->module);
    reg->staged->add_type(std::move(t));
  });
}

juniper_status extend_record_type(juniper_registrar* reg, const juniper_record_type_desc* in, juniper_error* err) {
  return guarded(err, [&] {
    const auto d = sized_copy(in, "record type");
    const auto& t = reg->staged->type(s(d.name));
    check_extendable(reg, t);
    reg->staged->extend_type(t.name, fields(d, reg->module), reg->module);
  });
}

juniper_status extend_selection(juniper_registrar* reg, const juniper_selection_extension_desc* in, juniper_error* err) {
  return guarded(err, [&] {
    const auto d = sized_copy(in, "selection extension");
    auto& t = reg->staged->type_mut(s(d.model));
    check_extendable(reg, t);
    records::FieldDef* f = t.field(s(d.field));
    if (f == nullptr || f->type != FieldType::selection) {
      throw UserError(s(d.field) + " is not a selection field of " + t.name);
    }
    records::SelectionFallback fb{f->name, {}, s(d.fallback_value), reg->module, s(d.checkbox_label)};
    if (!fb.checkbox_label.empty() && d.item_count != 1) {
      throw UserError("a selection extension shown as a checkbox must add exactly one value (" + t.name + "." + f->name + ")");
    }
    for (auto& c : choices(d.items, d.item_count, reg->module)) {
      if (f->has_choice(c.value)) throw UserError("selection value " + c.value + " already exists on " + t.name + "." + f->name);
      fb.values.push_back(c.value);
      f->choices.push_back(std::move(c));
    }
    if (!f->has_choice(fb.fallback)) throw UserError("fallback value '" + fb.fallback + "' is not a value of " + f->name);
    t.selection_fallbacks.push_back(std::move(fb));
  });
}

juniper_status add_constraint(juniper_registrar* reg, const juniper_constraint_desc* in, juniper_error* err) {
  return guarded(err, [&] {
    const auto d = sized_copy(in, "constraint");
    auto& t = reg->staged->type_mut(s(d.model));
    if (t.owner != reg->module) check_extendable(reg, t);
    if (d.check == nullptr) throw UserError("constraint on " + t.name + " has no function");
    records::Constraint c;
    std::string list = s(d.fields);
    for (std::size_t p = 0; p < list.size();) {
      const auto q = std::min(list.find(',', p), list.size());
      std::string f = list.substr(p, q - p);
      f.erase(0, f.find_first_not_of(' '));
      f.erase(f.find_last_not_of(' ') + 1);
      if (!f.empty()) c.fields.insert(f);
      p = q + 1;
    }
    c.owner = reg->module;
    c.check = [fn = d.check, user = d.user, module = reg->module](records::Env& env, const std::string& model,
                                                                  const nlohmann::json& record) {
      juniper_ctx ctx{&env, module};
      ErrorBox box;
      const std::string rec = record.dump();
      const juniper_status st = fn(user, &ctx, str(model), str(rec), &box.err);
      if (st != JUNIPER_OK) throw UserError(box.message.empty() ? "refused by module " + module : box.message);
    };
    t.constraints.push_back(std::move(c));
  });
}

juniper_status add_change_default(juniper_registrar* reg, const juniper_change_default_desc* in, juniper_error* err) {
  return guarded(err, [&] {
    const auto d = sized_copy(in, "change-default");
    auto& t = reg->staged->type_mut(s(d.model));
    if (t.owner != reg->module) check_extendable(reg, t);
    records::ChangeDefault cd{s(d.field), s(d.value), nlohmann::json::parse(s(d.values_json)), reg->module};
    if (t.field(cd.field) == nullptr) throw UserError("change-default on unknown field " + cd.field + " of " + t.name);
    for (const auto& [k, v] : cd.values.items()) {
      if (t.field(k) == nullptr) throw UserError("change-default sets unknown field " + k + " of " + t.name);
    }
    t.change_defaults.push_back(std::move(cd));
  });
}

juniper_status declare_setting(juniper_registrar* reg, const juniper_setting_desc* in, juniper_error* err) {
  return guarded(err, [&] {
    const auto d = sized_copy(in, "setting");
    records::SettingDef sd;
    sd.name = s(d.name);
    sd.config_parameter = d.config_parameter ? d.config_parameter : sd.name;
    if (!in_namespace(reg->module, sd.name) || !in_namespace(reg->module, sd.config_parameter)) {
      throw UserError("module " + reg->module + " declares setting '" + sd.name + "' outside its namespace");
    }
    sd.type = field_type(d.type, sd.name);
    sd.label = d.label ? d.label : sd.name;
    if (d.default_value) sd.default_value = d.default_value;
    sd.secret = (d.flags & JUNIPER_SETTING_SECRET) != 0 || sd.type == FieldType::secret;
    sd.group = s(d.group);
    sd.block = s(d.block);
    sd.shown_if = s(d.shown_if);
    sd.help = s(d.help);
    sd.choices = choices(d.selection, d.selection_count, reg->module);
    sd.owner = reg->module;
    if (d.compute != nullptr) {
      sd.compute = [fn = d.compute, user = d.compute_user, module = reg->module](records::Env& env) {
        juniper_ctx ctx{&env, module};
        std::string value;
        juniper_sink out{&value,
                         [](void* u, const char* data, size_t size) { static_cast<std::string*>(u)->append(data, size); }};
        ErrorBox box;
        if (fn(user, &ctx, &out, &box.err) != JUNIPER_OK)
          throw UserError(box.message.empty() ? "module " + module + " could not compute it" : box.message);
        return value;
      };
    }
    reg->staged->add_setting(std::move(sd));
  });
}

juniper_status declare_action(juniper_registrar* reg, const juniper_action_desc* in, juniper_error* err) {
  return guarded(err, [&] {
    const auto d = sized_copy(in, "action");
    const auto& t = reg->staged->type(s(d.model));
    if (t.owner != reg->module) check_extendable(reg, t);
    if (d.invoke == nullptr) throw UserError("action " + s(d.name) + " has no function");
    records::ActionDef a;
    a.model = t.name;
    a.name = s(d.name);
    a.label = d.label ? d.label : a.name;
    a.admin_only = (d.flags & JUNIPER_ACTION_ADMIN_ONLY) != 0;
    // Waits on the network: no transaction may span it (each write commits at once).
    a.own_transactions = (d.flags & JUNIPER_ACTION_NETWORK) != 0;
    a.hidden = (d.flags & JUNIPER_ACTION_HIDDEN) != 0;
    a.owner = reg->module;
    const std::string module = reg->module;
    a.invoke = [fn = d.invoke, user = d.user, module, model = a.model](records::Env& env, std::int64_t id) {
      juniper_ctx ctx{&env, module};
      juniper_reply reply;
      ErrorBox box;
      const juniper_status st = fn(user, &ctx, str(model), id, &reply, &box.err);
      if (st == JUNIPER_ERR_TEMPORARY) throw TemporaryError(box.message);
      if (st != JUNIPER_OK) throw UserError(box.message.empty() ? "action refused by module " + module : box.message);
      return reply.json.empty() ? nlohmann::json::object() : nlohmann::json::parse(reply.json);
    };
    if (d.visible != nullptr) {
      a.visible = [fn = d.visible, user = d.user, module, model = a.model](records::Env& env, const nlohmann::json& r) {
        juniper_ctx ctx{&env, module};
        const std::string rec = r.dump();
        return fn(user, &ctx, str(model), str(rec)) != 0;
      };
    }
    reg->staged->add_action(std::move(a));
  });
}

juniper_status declare_route(juniper_registrar* reg, const juniper_route_desc* in, juniper_error* err) {
  return guarded(err, [&] {
    const auto d = sized_copy(in, "route");
    RouteDef r{
        reg->module, s(d.method), s(d.path), d.auth, (d.flags & JUNIPER_ROUTE_CSRF) != 0, (d.flags & JUNIPER_ROUTE_NETWORK) != 0,
        d.handler,   d.user};
    if (!r.path.starts_with("/" + reg->module + "/")) {
      throw UserError("module " + reg->module + " declares route " + r.path + " outside /" + reg->module + "/");
    }
    if (r.method != "GET" && r.method != "POST") throw UserError("route " + r.path + ": method must be GET or POST");
    if (r.handler == nullptr) throw UserError("route " + r.path + " has no handler");
    for (const auto& o : reg->decl->routes) {
      if (o.method == r.method && o.path == r.path) throw UserError("route " + r.method + " " + r.path + " declared twice");
    }
    reg->decl->routes.push_back(std::move(r));
  });
}

juniper_status connect_hook(juniper_registrar* reg, const juniper_hook_desc* in, juniper_error* err) {
  return guarded(err, [&] {
    const auto d = sized_copy(in, "hook");
    if (!hook_policy(s(d.hook))) throw UserError("module " + reg->module + " connects to unknown hook '" + s(d.hook) + "'");
    if (d.handler == nullptr) throw UserError("hook " + s(d.hook) + " has no handler");
    reg->decl->hooks.push_back({s(d.hook), d.priority, d.handler, d.user});
  });
}

const juniper_registrar_api kRegistrar = {sizeof(juniper_registrar_api),
                                          declare_record_type,
                                          extend_record_type,
                                          extend_selection,
                                          add_constraint,
                                          add_change_default,
                                          declare_setting,
                                          declare_action,
                                          declare_route,
                                          connect_hook};

// ---- host services ---------------------------------------------------------------------------

void error_set(juniper_error* err, juniper_status code, juniper_str message) {
  if (err == nullptr || err->struct_size < sizeof(juniper_error)) return;
  err->code = code;
  if (err->message.write != nullptr) err->message.write(err->message.user, message.data, message.size);
}

void log_message(juniper_ctx* ctx, int32_t level, juniper_str message) {
  const std::string source = ctx ? ctx->module : std::string("module");
  const auto l = level <= JUNIPER_LOG_DEBUG     ? log::Level::debug
                 : level == JUNIPER_LOG_INFO    ? log::Level::info
                 : level == JUNIPER_LOG_WARNING ? log::Level::warning
                                                : log::Level::error;
  log::write(l, source, view(message));
}

juniper_status ctx_info(juniper_ctx* ctx, juniper_sink* out, juniper_error* err) {
  return guarded(err, [&] {
    auto& env = env_of(ctx);
    const nlohmann::json j = {
        {"user", env.user.login}, {"user_id", env.user.id}, {"is_admin", env.user.is_admin}, {"module", ctx->module}};
    to_sink(out, j.dump());
  });
}

juniper_status param_get(juniper_ctx* ctx, juniper_str key, juniper_sink* out, juniper_error* err) {
  juniper_status found = JUNIPER_OK;
  const juniper_status st = guarded(err, [&] {
    const auto v = records::param_get(env_of(ctx), view(key));
    if (!v) {
      found = JUNIPER_ERR_NOT_FOUND;
      return;
    }
    to_sink(out, *v);
  });
  return st != JUNIPER_OK ? st : found;
}

juniper_status param_set(juniper_ctx* ctx, juniper_str key, juniper_str value, juniper_error* err) {
  return guarded(err, [&] {
    // Replacing it would make every stored secret unreadable (and let a module choose the key).
    if (view(key) == kDatabaseSecret) throw UserError("the system parameter database.secret is the host's own");
    records::param_set(env_of(ctx), view(key), view(value));
  });
}

juniper_status sign(juniper_ctx* ctx, juniper_str purpose, juniper_str message, juniper_sink* out_hex, juniper_error* err) {
  return guarded(err, [&] {
    const auto secret = records::param_get(env_of(ctx), kDatabaseSecret);
    if (!secret || secret->empty()) throw UserError("database.secret is missing: run `juniper init`");
    // One key per (module, purpose), derived from the host's secret, which never leaves the host.
    const auto key = crypto::hmac_sha256(*secret, "juniper.sign\x1f" + ctx->module + "\x1f" + std::string(view(purpose)));
    const auto mac = crypto::hmac_sha256(std::string_view(reinterpret_cast<const char*>(key.data()), key.size()), view(message));
    to_sink(out_hex, crypto::to_hex(mac));
  });
}

juniper_status record_read(juniper_ctx* ctx, juniper_str model, int64_t id, juniper_sink* out, juniper_error* err) {
  return guarded(err, [&] { to_sink(out, records::read(env_of(ctx), view(model), id, records::Secrets::revealed).dump()); });
}

juniper_status record_search(juniper_ctx* ctx, juniper_str model, juniper_str filter, juniper_sink* out, juniper_error* err) {
  return guarded(err, [&] {
    const auto f = filter.size ? nlohmann::json::parse(view(filter)) : nlohmann::json::object();
    to_sink(out, nlohmann::json(records::search(env_of(ctx), view(model), f)).dump());
  });
}

juniper_status record_create(juniper_ctx* ctx, juniper_str model, juniper_str values, int64_t* out_id, juniper_error* err) {
  return guarded(err, [&] {
    const auto id = records::create(env_of(ctx), view(model), nlohmann::json::parse(view(values)));
    if (out_id != nullptr) *out_id = id;
  });
}

juniper_status record_write(juniper_ctx* ctx, juniper_str model, int64_t id, juniper_str values, juniper_error* err) {
  return guarded(err, [&] { records::write(env_of(ctx), view(model), id, nlohmann::json::parse(view(values))); });
}

juniper_status record_delete(juniper_ctx* ctx, juniper_str model, int64_t id, juniper_error* err) {
  return guarded(err, [&] { records::remove(env_of(ctx), view(model), id); });
}

void reply_json(juniper_reply* reply, juniper_str json) {
  if (reply != nullptr) reply->json.assign(json.data, json.size);
}

juniper_status request_get(const juniper_http_request* req, int32_t what, juniper_str name, juniper_sink* out) {
  try {
    if (req == nullptr || !req->get) return JUNIPER_ERR_INVALID;
    const auto v = req->get(what, view(name));
    if (!v) return JUNIPER_ERR_NOT_FOUND;
    to_sink(out, *v);
    return JUNIPER_OK;
  } catch (...) {
    return JUNIPER_ERR_INTERNAL;
  }
}

void response_status(juniper_http_response* r, int32_t status) {
  if (r != nullptr && status >= 100 && status <= 599) r->status = status;
}

void response_header(juniper_http_response* r, juniper_str name, juniper_str value) {
  if (r == nullptr) return;
  const std::string n(view(name)), v(view(value));
  // Header injection guard: a module cannot smuggle CR/LF into the response.
  if (n.find_first_of("\r\n:") != std::string::npos || v.find_first_of("\r\n") != std::string::npos) return;
  r->headers.emplace_back(n, v);
}

void response_body(juniper_http_response* r, juniper_str body) {
  if (r != nullptr) r->body.append(body.data, body.size);
}

void response_page(juniper_http_response* r, int32_t status, juniper_str page_json) {
  if (r == nullptr) return;
  response_status(r, status);
  r->page_json.assign(page_json.data, page_json.size);
}

juniper_status http_post_form(juniper_ctx* ctx, juniper_str url, juniper_str form_json, int32_t timeout_seconds,
                              juniper_sink* out, juniper_error* err) {
  (void)ctx;
  const juniper_status st = guarded(err, [&] {
    std::vector<std::pair<std::string, std::string>> form;
    const nlohmann::json fields = nlohmann::json::parse(view(form_json));
    for (const auto& [k, v] : fields.items()) {
      form.emplace_back(k, v.is_string() ? v.get<std::string>() : v.dump());
    }
    // The client's errors carry their kind: unreachable is TEMPORARY, a bad URL INVALID.
    const auto r =
        http::post_form(std::string(view(url)), form, std::chrono::seconds(std::max(1, timeout_seconds)), tls::extra_ca_file());
    to_sink(out, nlohmann::json{{"status", r.status}, {"body", r.body}}.dump());
  });
  return st;
}

juniper_status http_request(juniper_ctx* ctx, juniper_str request_json, juniper_str body, juniper_sink* out_json,
                            juniper_sink* out_body, juniper_error* err) {
  (void)ctx;
  return guarded(err, [&] {
    const nlohmann::json rq = nlohmann::json::parse(view(request_json));
    http::ClientRequest r;
    r.method = rq.value("method", "GET");
    r.url = rq.value("url", "");
    r.timeout = std::chrono::seconds(std::clamp(rq.value("timeout", 30), 1, 600));
    if (rq.contains("headers") && rq["headers"].is_object()) {
      for (const auto& [k, v] : rq["headers"].items()) r.headers.emplace_back(k, v.is_string() ? v.get<std::string>() : v.dump());
    }
    r.body.assign(body.data, body.size);
    // Unreachable: TEMPORARY; a bad URL or an answer too large: INVALID (asking again cannot help).
    const http::ClientResponse answer = http::request(r, tls::extra_ca_file());
    to_sink(out_json, nlohmann::json{{"status", answer.status}, {"headers", answer.headers}}.dump(
                          -1, ' ', false, nlohmann::json::error_handler_t::replace));
    to_sink(out_body, answer.body);
  });
}

juniper_status record_lock(juniper_ctx* ctx, juniper_str model, int64_t id, juniper_error* err) {
  return guarded(err, [&] {
    auto& env = env_of(ctx);
    const auto& t = env.registry.type(view(model));
    // A no-op write takes the row lock on PostgreSQL and the write lock on SQLite, until the
    // transaction ends: the next locker waits, then sees the committed result.
    env.sql() << "UPDATE " + t.table() + " SET id = id WHERE id = :id", soci::use(id);
  });
}

void url_encode(juniper_str text, juniper_sink* out) { to_sink(out, http::url_encode(view(text))); }

// Claims are named per module: one module cannot hold or free another's.
std::string claim_name(juniper_ctx* ctx, juniper_str name) { return ctx->module + ":" + std::string(view(name)); }

juniper_status claim_acquire(juniper_ctx* ctx, juniper_str name, int32_t seconds, juniper_sink* out_token, juniper_error* err) {
  juniper_status held = JUNIPER_OK;
  const juniper_status st = guarded(err, [&] {
    const auto token =
        records::claim_acquire(env_of(ctx).db, claim_name(ctx, name), std::chrono::seconds(std::clamp(seconds, 1, 3600)));
    if (!token) {
      held = JUNIPER_ERR_CONFLICT;
      return;
    }
    to_sink(out_token, *token);
  });
  return st != JUNIPER_OK ? st : held;
}

void claim_release(juniper_ctx* ctx, juniper_str name, juniper_str token) {
  try {
    records::claim_release(env_of(ctx).db, claim_name(ctx, name), std::string(view(token)));
  } catch (const std::exception& e) {  // it expires by itself
    log::warning("modules", std::string("releasing a claim of module ") + ctx->module + " failed: " + e.what());
  }
}

const juniper_host_api kHost = {sizeof(juniper_host_api),
                                JUNIPER_ABI_MAJOR,
                                JUNIPER_ABI_MINOR,
                                &kRegistrar,
                                error_set,
                                log_message,
                                ctx_info,
                                param_get,
                                param_set,
                                record_read,
                                record_search,
                                record_create,
                                record_write,
                                record_delete,
                                reply_json,
                                request_get,
                                response_status,
                                response_header,
                                response_body,
                                http_post_form,
                                record_lock,
                                url_encode,
                                smtp_open,
                                smtp_send,
                                smtp_close,
                                imap_check,
                                claim_acquire,
                                claim_release,
                                http_request,
                                message_store,
                                mail_release,
                                mail_attachment_read,
                                response_page,
                                sign};

}  // namespace

const juniper_host_api* host_api() { return &kHost; }

ErrorBox::ErrorBox()
    : err{sizeof(juniper_error), JUNIPER_OK, juniper_sink{&message, [](void* user, const char* data, size_t size) {
                                                            static_cast<std::string*>(user)->append(data, size);
                                                          }}} {}

juniper_module_descriptor module_descriptor(const juniper_module_descriptor* d, std::string_view module) {
  const std::string who = "module " + std::string(module) + ": ";
  if (d == nullptr || d->struct_size < offsetof(juniper_module_descriptor, install)) {
    throw UserError(who + "the library returned an invalid descriptor");
  }
  if (d->struct_size > sizeof(juniper_module_descriptor)) {
    throw UserError(who + "its descriptor is newer than this host supports (struct_size " + std::to_string(d->struct_size) +
                    " > " + std::to_string(sizeof(juniper_module_descriptor)) +
                    "): upgrade juniper or rebuild the module against this SDK");
  }
  return sized_copy(d, "module");
}

void throw_if_failed(juniper_status st, const ErrorBox& box, std::string_view module, std::string_view what) {
  if (st == JUNIPER_OK) return;
  throw UserError("module " + std::string(module) + ": " + std::string(what) +
                  " failed: " + (box.message.empty() ? "status " + std::to_string(st) : box.message));
}

}  // namespace juniper::modules
