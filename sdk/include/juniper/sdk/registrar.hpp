// Fluent C++ façade over juniper_registrar_api, compiled into each module.
// Callbacks are std::function objects kept alive in this module's static storage; the host only
// ever sees a C function pointer (a trampoline below) and a void* to them.
#pragma once

#include <juniper/sdk/context.hpp>
#include <juniper/sdk/http.hpp>

#include <algorithm>
#include <deque>
#include <functional>
#include <memory>
#include <utility>

namespace juniper::sdk {

struct Choice {
  std::string value;
  std::string label;
  std::string tone;  // badges (ABI 1.4): "ok", "warning", "error"; empty: neutral
};

// A field of a record type, built fluently: Field::selection("kind", "Kind", {...}).required()
struct Field {
  std::string name;
  juniper_field_type type = JUNIPER_FIELD_CHAR;
  std::string label;
  std::optional<std::string> default_value;
  uint32_t flags = 0;
  std::vector<Choice> choices;
  std::string relation;
  std::string help_text;
  std::string shown_when;  // "field=value" (ABI 1.3); empty: always shown

  static Field make(std::string n, juniper_field_type t, std::string l) {
    Field f;
    f.name = std::move(n);
    f.type = t;
    f.label = std::move(l);
    return f;
  }
  static Field chars(std::string n, std::string l) { return make(std::move(n), JUNIPER_FIELD_CHAR, std::move(l)); }
  static Field text(std::string n, std::string l) { return make(std::move(n), JUNIPER_FIELD_TEXT, std::move(l)); }
  static Field integer(std::string n, std::string l) { return make(std::move(n), JUNIPER_FIELD_INT, std::move(l)); }
  static Field boolean(std::string n, std::string l) { return make(std::move(n), JUNIPER_FIELD_BOOL, std::move(l)); }
  static Field datetime(std::string n, std::string l) { return make(std::move(n), JUNIPER_FIELD_DATETIME, std::move(l)); }
  static Field secret(std::string n, std::string l) { return make(std::move(n), JUNIPER_FIELD_SECRET, std::move(l)); }
  static Field selection(std::string n, std::string l, std::vector<Choice> c) {
    Field f = make(std::move(n), JUNIPER_FIELD_SELECTION, std::move(l));
    f.choices = std::move(c);
    return f;
  }
  static Field many2one(std::string n, std::string l, std::string target) {
    Field f = make(std::move(n), JUNIPER_FIELD_MANY2ONE, std::move(l));
    f.relation = std::move(target);
    return f;
  }
  Field&& defaults(std::string v) && {
    default_value = std::move(v);
    return std::move(*this);
  }
  Field&& required() && {
    flags |= JUNIPER_FIELD_REQUIRED;
    return std::move(*this);
  }
  Field&& readonly() && {
    flags |= JUNIPER_FIELD_READONLY;
    return std::move(*this);
  }
  Field&& hidden() && {
    flags |= JUNIPER_FIELD_HIDDEN;
    return std::move(*this);
  }
  Field&& help(std::string h) && {
    help_text = std::move(h);
    return std::move(*this);
  }
  Field&& shown_if(std::string field_equals_value) && {
    shown_when = std::move(field_equals_value);
    return std::move(*this);
  }
  // A selection shown as a status badge, coloured by its choices' tones (ABI 1.4).
  Field&& badge() && {
    flags |= JUNIPER_FIELD_BADGE;
    return std::move(*this);
  }
};

struct Setting {
  std::string name;
  std::string config_parameter;  // empty: same as name
  juniper_field_type type = JUNIPER_FIELD_CHAR;
  std::string label;
  std::optional<std::string> default_value;
  bool secret = false;
  std::string group;
  std::string block;
  std::string shown_if;
  std::string help;
  std::vector<Choice> choices;
  // ABI 1.5: a read-only value computed whenever the settings are shown (nothing stored).
  std::function<std::string(Context&)> compute;
};

using ConstraintFn = std::function<void(Context&, const nlohmann::json& record)>;
using VisibleFn = std::function<bool(Context&, const nlohmann::json& record)>;
using ActionFn = std::function<nlohmann::json(Context&, std::int64_t id)>;

struct ActionOptions {
  bool admin_only = false;
  bool network = false;  // ABI 1.5: waits on the network, so the host runs it outside a transaction
  bool hidden = false;   // ABI 1.5: no button (a follow-up: see "continue" in juniper_registrar.h)
  std::uint32_t flags() const {
    return (admin_only ? JUNIPER_ACTION_ADMIN_ONLY : 0u) | (network ? JUNIPER_ACTION_NETWORK : 0u) |
           (hidden ? JUNIPER_ACTION_HIDDEN : 0u);
  }
};
struct RouteOptions {
  bool csrf = false;     // state-changing: the host checks the form's csrf_token
  bool network = false;  // ABI 1.9: waits on the network, so the host runs it outside a transaction
  std::uint32_t flags() const { return (csrf ? JUNIPER_ROUTE_CSRF : 0u) | (network ? JUNIPER_ROUTE_NETWORK : 0u); }
};
using RouteFn = std::function<void(Context&, const Request&, Response&)>;
// Answer std::nullopt to let the next handler try.
using HookFn = std::function<std::optional<nlohmann::json>(Context&, const nlohmann::json& payload)>;

namespace detail {
// Callbacks outlive every declare() call; the library is never unloaded while the process runs.
template <class T>
T* keep(T value) {
  static std::deque<std::unique_ptr<T>> store;
  store.push_back(std::make_unique<T>(std::move(value)));
  return store.back().get();
}

inline const char* c_or_null(const std::string& s) { return s.empty() ? nullptr : s.c_str(); }

// The choices' tones, or none at all when no choice has one.
inline std::vector<const char*> tones(const std::vector<Choice>& choices) {
  std::vector<const char*> out;
  for (const auto& c : choices) out.push_back(c_or_null(c.tone));
  if (std::all_of(out.begin(), out.end(), [](const char* t) { return t == nullptr; })) out.clear();
  return out;
}

inline std::vector<juniper_selection_item> items(const std::vector<Choice>& choices) {
  std::vector<juniper_selection_item> out;
  out.reserve(choices.size());
  for (const auto& c : choices) out.push_back({c.value.c_str(), c.label.c_str()});
  return out;
}

inline nlohmann::json parse(juniper_str s) { return nlohmann::json::parse(std::string_view(s.data, s.size)); }
}  // namespace detail

class Registrar {
 public:
  Registrar(const juniper_host_api* host, juniper_registrar* reg) : api_(host->registrar), reg_(reg) {}

  void record_type(const std::string& name, const std::string& label, const std::vector<Field>& fields,
                   const std::string& order = {}) {
    declare_type(api_->declare_record_type, name, label, fields, order);
  }
  void extend(const std::string& name, const std::vector<Field>& fields) {
    declare_type(api_->extend_record_type, name, {}, fields, {});
  }

  void extend_selection(const std::string& model, const std::string& field, const std::vector<Choice>& choices,
                        const std::string& fallback, const std::string& checkbox_label = {}) {
    const auto its = detail::items(choices);
    const juniper_selection_extension_desc d{sizeof d,
                                             model.c_str(),
                                             field.c_str(),
                                             its.data(),
                                             its.size(),
                                             fallback.c_str(),
                                             checkbox_label.empty() ? nullptr : checkbox_label.c_str()};
    call([&](juniper_error* e) { return api_->extend_selection(reg_, &d, e); });
  }

  void constraint(const std::string& model, const std::string& fields, ConstraintFn fn) {
    auto* f = detail::keep(std::move(fn));
    const juniper_constraint_desc d{sizeof d, model.c_str(), fields.c_str(),
                                    [](void* user, juniper_ctx* ctx, juniper_str, juniper_str record, juniper_error* err) {
                                      return guard(err, [&] {
                                        Context c(ctx);
                                        (*static_cast<ConstraintFn*>(user))(c, detail::parse(record));
                                      });
                                    },
                                    f};
    call([&](juniper_error* e) { return api_->add_constraint(reg_, &d, e); });
  }

  void change_default(const std::string& model, const std::string& field, const std::string& value,
                      const nlohmann::json& values) {
    const std::string v = values.dump();
    const juniper_change_default_desc d{sizeof d, model.c_str(), field.c_str(), value.c_str(), v.c_str()};
    call([&](juniper_error* e) { return api_->add_change_default(reg_, &d, e); });
  }

  void setting(const Setting& s) {
    const auto its = detail::items(s.choices);
    const std::string def = s.default_value.value_or("");
    juniper_setting_desc d{sizeof d,
                           s.name.c_str(),
                           detail::c_or_null(s.config_parameter),
                           s.type,
                           s.label.c_str(),
                           s.default_value ? def.c_str() : nullptr,
                           s.secret ? JUNIPER_SETTING_SECRET : 0u,
                           detail::c_or_null(s.group),
                           detail::c_or_null(s.block),
                           detail::c_or_null(s.shown_if),
                           detail::c_or_null(s.help),
                           its.data(),
                           its.size(),
                           nullptr,
                           nullptr};
    if (s.compute) {
      d.compute_user = detail::keep(s.compute);
      d.compute = [](void* user, juniper_ctx* ctx, juniper_sink* out, juniper_error* err) {
        return guard(err, [&] {
          Context c(ctx);
          const std::string value = (*static_cast<std::function<std::string(Context&)>*>(user))(c);
          out->write(out->user, value.data(), value.size());
        });
      };
    }
    call([&](juniper_error* e) { return api_->declare_setting(reg_, &d, e); });
  }

  void action(const std::string& model, const std::string& name, const std::string& label, ActionFn invoke,
              VisibleFn visible = {}, bool admin_only = false) {
    action(model, name, label, std::move(invoke), std::move(visible), ActionOptions{.admin_only = admin_only});
  }

  void action(const std::string& model, const std::string& name, const std::string& label, ActionFn invoke, VisibleFn visible,
              ActionOptions options) {
    struct Pair {
      ActionFn invoke;
      VisibleFn visible;
    };
    auto* p = detail::keep(Pair{std::move(invoke), std::move(visible)});
    juniper_action_desc d{sizeof d,
                          model.c_str(),
                          name.c_str(),
                          label.c_str(),
                          options.flags(),
                          nullptr,
                          [](void* user, juniper_ctx* ctx, juniper_str, int64_t id, juniper_reply* reply, juniper_error* err) {
                            return guard(err, [&] {
                              Context c(ctx);
                              const std::string out = static_cast<Pair*>(user)->invoke(c, id).dump();
                              host().reply_json(reply, detail::str(out));
                            });
                          },
                          p};
    if (p->visible) {
      d.visible = [](void* user, juniper_ctx* ctx, juniper_str, juniper_str record) -> int32_t {
        try {
          Context c(ctx);
          return static_cast<Pair*>(user)->visible(c, detail::parse(record)) ? 1 : 0;
        } catch (...) {
          return 0;
        }
      };
    }
    call([&](juniper_error* e) { return api_->declare_action(reg_, &d, e); });
  }

  void route(const std::string& method, const std::string& path, juniper_route_auth auth, RouteFn fn, bool csrf = false) {
    route(method, path, auth, std::move(fn), RouteOptions{.csrf = csrf});
  }

  void route(const std::string& method, const std::string& path, juniper_route_auth auth, RouteFn fn, RouteOptions options) {
    auto* f = detail::keep(std::move(fn));
    const juniper_route_desc d{
        sizeof d,
        method.c_str(),
        path.c_str(),
        auth,
        options.flags(),
        [](void* user, juniper_ctx* ctx, const juniper_http_request* req, juniper_http_response* res, juniper_error* err) {
          return guard(err, [&] {
            Context c(ctx);
            Request rq(req);
            Response rs(res);
            (*static_cast<RouteFn*>(user))(c, rq, rs);
          });
        },
        f};
    call([&](juniper_error* e) { return api_->declare_route(reg_, &d, e); });
  }

  void hook(const std::string& name, int32_t priority, HookFn fn) {
    auto* f = detail::keep(std::move(fn));
    const juniper_hook_desc d{sizeof d, name.c_str(), priority,
                              [](void* user, juniper_ctx* ctx, juniper_str payload, juniper_reply* reply, juniper_error* err) {
                                bool handled = false;
                                const juniper_status st = guard(err, [&] {
                                  Context c(ctx);
                                  auto answer = (*static_cast<HookFn*>(user))(c, detail::parse(payload));
                                  if (!answer) return;
                                  handled = true;
                                  const std::string out = answer->dump();
                                  host().reply_json(reply, detail::str(out));
                                });
                                if (st != JUNIPER_OK) return st;
                                return handled ? JUNIPER_OK : JUNIPER_ERR_UNSUPPORTED;
                              },
                              f};
    call([&](juniper_error* e) { return api_->connect_hook(reg_, &d, e); });
  }

 private:
  using DeclareFn = juniper_status (*)(juniper_registrar*, const juniper_record_type_desc*, juniper_error*);

  void declare_type(DeclareFn fn, const std::string& name, const std::string& label, const std::vector<Field>& fields,
                    const std::string& order) {
    std::vector<std::vector<juniper_selection_item>> choice_items;
    std::vector<std::vector<const char*>> choice_tones;
    std::vector<juniper_field_desc> descs;
    choice_items.reserve(fields.size());
    choice_tones.reserve(fields.size());
    descs.reserve(fields.size());
    for (const auto& f : fields) {
      choice_items.push_back(detail::items(f.choices));
      choice_tones.push_back(detail::tones(f.choices));
      descs.push_back(juniper_field_desc{sizeof(juniper_field_desc), f.name.c_str(), f.type, f.label.c_str(),
                                         f.default_value ? f.default_value->c_str() : nullptr, f.flags,
                                         choice_items.back().data(), choice_items.back().size(), detail::c_or_null(f.relation),
                                         detail::c_or_null(f.help_text), detail::c_or_null(f.shown_when),
                                         choice_tones.back().empty() ? nullptr : choice_tones.back().data()});
    }
    const juniper_record_type_desc d{sizeof d,     name.c_str(), detail::c_or_null(label),
                                     descs.data(), descs.size(), detail::c_or_null(order)};
    call([&](juniper_error* e) { return fn(reg_, &d, e); });
  }

  template <class F>
  static void call(F&& f) {
    detail::ErrorBox box;
    const juniper_status st = f(&box.err);
    if (st != JUNIPER_OK) throw Error(st, box.message.empty() ? "declaration refused" : box.message);
  }

  const juniper_registrar_api* api_;
  juniper_registrar* reg_;
};

}  // namespace juniper::sdk
