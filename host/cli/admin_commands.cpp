#include "cli/commands.hpp"
#include "core/errors.hpp"
#include "records/params.hpp"
#include "records/settings.hpp"
#include "records/users.hpp"

#include <iostream>

namespace juniper::cli {
namespace {

void add_init(CLI::App& app, Globals& g) {
  auto* c = app.add_subcommand("init", "create or upgrade the database (idempotent)");
  c->callback([&g] {
    Host& h = g.open(false);
    const auto password = h.init();
    std::cout << "database ready: " << h.db().display_name() << "\n";
    if (password) {
      std::cout << "admin login: admin\nadmin password (shown once; change it with `juniper user passwd admin`): " << *password
                << "\n";
    }
  });
}

void add_module(CLI::App& app, Globals& g) {
  auto* m = app.add_subcommand("module", "list, install and uninstall modules");
  m->require_subcommand(1);
  auto* list = m->add_subcommand("list", "modules found in the modules path and their state");
  static bool json = false;
  list->add_flag("--json", json, "JSON output");
  list->callback([&g] {
    Host& h = g.open();
    auto lock = h.db().lock();
    nlohmann::json out = nlohmann::json::array();
    for (const auto& s : h.modules().list()) {
      nlohmann::json j = {{"name", s.manifest.name}, {"display_name", s.manifest.display_name}, {"version", s.manifest.version},
                          {"state", s.state},        {"depends", s.manifest.depends},           {"summary", s.manifest.summary}};
      if (!s.problem.empty()) j["problem"] = s.problem;
      out.push_back(j);
    }
    if (json) return print_json(out);
    for (const auto& j : out) {
      std::cout << j["name"].get<std::string>() << "  " << j["version"].get<std::string>() << "  "
                << j["state"].get<std::string>() << "  " << j["display_name"].get<std::string>() << "\n";
      if (j.contains("problem")) std::cout << "    problem: " << j["problem"].get<std::string>() << "\n";
    }
  });
  static std::vector<std::string> names;
  auto* install = m->add_subcommand("install", "install modules (dependencies first, one transaction each)");
  install->add_option("NAME", names)->required();
  install->callback([&g] {
    Host& h = g.open();
    auto lock = h.db().lock();
    h.modules().install(names);
    for (const auto& n : names) std::cout << "installed " << n << "\n";
  });
  auto* uninstall = m->add_subcommand("uninstall", "uninstall modules (dependent modules first)");
  uninstall->add_option("NAME", names)->required();
  uninstall->callback([&g] {
    Host& h = g.open();
    auto lock = h.db().lock();
    h.modules().uninstall(names);
    for (const auto& n : names) std::cout << "uninstalled " << n << "\n";
  });
}

void add_param(CLI::App& app, Globals& g) {
  auto* p = app.add_subcommand("param", "system parameters (ir.config_parameter)");
  p->require_subcommand(1);
  static std::string key, value;
  static bool json = false;
  auto* get = p->add_subcommand("get", "print a parameter (secrets print as 'set')");
  get->add_option("KEY", key)->required();
  get->callback([&g] {
    Host& h = g.open();
    auto lock = h.db().lock();
    auto env = h.env();
    for (const auto& e : records::param_list(env)) {
      if (e.key != key) continue;
      std::cout << (e.secret ? std::string("set") : *e.value) << "\n";
      return;
    }
    throw UserError("system parameter '" + key + "' is not set");
  });
  auto* set = p->add_subcommand("set", "set a parameter");
  set->add_option("KEY", key)->required();
  set->add_option("VALUE", value)->required();
  set->callback([&g] {
    Host& h = g.open();
    auto lock = h.db().lock();
    auto env = h.env();
    records::param_set(env, key, value);
  });
  auto* unset = p->add_subcommand("unset", "remove a parameter");
  unset->add_option("KEY", key)->required();
  unset->callback([&g] {
    Host& h = g.open();
    auto lock = h.db().lock();
    auto env = h.env();
    if (!records::param_unset(env, key)) throw UserError("system parameter '" + key + "' is not set");
  });
  auto* list = p->add_subcommand("list", "list parameters");
  list->add_flag("--json", json, "JSON output");
  list->callback([&g] {
    Host& h = g.open();
    auto lock = h.db().lock();
    auto env = h.env();
    nlohmann::json out = nlohmann::json::array();
    for (const auto& e : records::param_list(env)) {
      out.push_back(
          {{"key", e.key}, {"value", e.secret ? nlohmann::json("set") : nlohmann::json(*e.value)}, {"secret", e.secret}});
    }
    if (json) return print_json(out);
    for (const auto& j : out) std::cout << j["key"].get<std::string>() << " = " << j["value"].get<std::string>() << "\n";
  });
}

void add_settings(CLI::App& app, Globals& g) {
  auto* s = app.add_subcommand("settings", "General Settings");
  s->require_subcommand(1);
  static bool json = false;
  static std::vector<std::string> items;
  auto* show = s->add_subcommand("show", "settings fields and their values");
  show->add_flag("--json", json, "JSON output");
  show->callback([&g] {
    Host& h = g.open();
    auto lock = h.db().lock();
    auto env = h.env();
    nlohmann::json out = nlohmann::json::array();
    for (const auto& v : records::settings_show(env)) {
      out.push_back({{"field", v.def->name},
                     {"label", v.def->label},
                     {"parameter", v.def->config_parameter},
                     {"type", records::type_name(v.def->type)},
                     {"group", v.def->group},
                     {"secret", v.def->secret},
                     {"value", v.value},
                     {"module", v.def->owner}});
    }
    if (json) return print_json(out);
    for (const auto& j : out) {
      std::cout << j["field"].get<std::string>() << " (" << j["label"].get<std::string>() << ") = "
                << (j["value"].is_null()     ? std::string("unset")
                    : j["value"].is_string() ? j["value"].get<std::string>()
                                             : j["value"].dump())
                << "\n";
    }
  });
  auto* set = s->add_subcommand("set", "set settings fields, all or nothing");
  set->add_option("FIELD=VALUE", items)->required();
  set->callback([&g] {
    Host& h = g.open();
    auto lock = h.db().lock();
    auto env = h.env();
    Transaction tr(h.db().session());
    const nlohmann::json values = parse_assignments(items);
    for (const auto& [k, v] : values.items()) records::setting_set(env, k, v.get<std::string>());
    tr.commit();
  });
}

void add_user(CLI::App& app, Globals& g) {
  auto* u = app.add_subcommand("user", "users");
  u->require_subcommand(1);
  static std::string login;
  auto* pw = u->add_subcommand("passwd", "set a password, read from standard input");
  pw->add_option("LOGIN", login)->required();
  pw->callback([&g] {
    std::string password;
    std::getline(std::cin, password);
    Host& h = g.open();
    auto lock = h.db().lock();
    records::set_password(h.db(), login, password);
    std::cout << "password changed for " << login << "\n";
  });
  static std::string email;
  auto* em = u->add_subcommand("email", "set the address the host mails a user at (administrators: alerts)");
  em->add_option("LOGIN", login)->required();
  em->add_option("EMAIL", email, "empty to clear")->required();
  em->callback([&g] {
    Host& h = g.open();
    auto lock = h.db().lock();
    records::set_email(h.db(), login, email);
    std::cout << "email of " << login << ": " << (email.empty() ? "(none)" : email) << "\n";
  });
}

}  // namespace

void add_admin_commands(CLI::App& app, Globals& g) {
  add_init(app, g);
  add_module(app, g);
  add_param(app, g);
  add_settings(app, g);
  add_user(app, g);
}

}  // namespace juniper::cli
