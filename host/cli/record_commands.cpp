#include "cli/commands.hpp"
#include "core/errors.hpp"
#include "records/record_service.hpp"

#include <iostream>

namespace juniper::cli {
namespace {

struct Args {
  std::string model;
  long long id = 0;
  std::string action;
  std::vector<std::string> items;
  bool json = false;
};

void print_record(const nlohmann::json& r) {
  for (const auto& [k, v] : r.items()) {
    std::cout << k << ": " << (v.is_null() ? std::string("") : v.is_string() ? v.get<std::string>() : v.dump()) << "\n";
  }
}

// Runs `fn` with the database locked, in one transaction: a refused write changes nothing.
template <class F>
void in_transaction(Globals& g, F&& fn) {
  Host& h = g.open();
  auto lock = h.db().lock();
  auto env = h.env();
  Transaction tr(h.db().session());
  fn(env);
  tr.commit();
}

}  // namespace

void add_record_commands(CLI::App& app, Globals& g) {
  static Args a;
  auto* r = app.add_subcommand("record", "create, read, write and delete records; run actions");
  r->require_subcommand(1);

  auto* create = r->add_subcommand("create", "create a record; prints its id");
  create->add_option("MODEL", a.model)->required();
  create->add_option("FIELD=VALUE", a.items);
  create->add_flag("--json", a.json, "JSON output");
  create->callback([&g] {
    in_transaction(g, [](records::Env& env) {
      const auto id = records::create(env, a.model, parse_assignments(a.items));
      if (a.json) {
        print_json({{"id", id}});
      } else {
        std::cout << id << "\n";
      }
    });
  });

  auto* write = r->add_subcommand("write", "change fields of a record");
  write->add_option("MODEL", a.model)->required();
  write->add_option("ID", a.id)->required();
  write->add_option("FIELD=VALUE", a.items)->required();
  write->callback([&g] { in_transaction(g, [](records::Env& env) { records::write(env, a.model, a.id, parse_assignments(a.items)); }); });

  auto* read = r->add_subcommand("read", "show a record (secrets as 'set')");
  read->add_option("MODEL", a.model)->required();
  read->add_option("ID", a.id)->required();
  read->add_flag("--json", a.json, "JSON output");
  read->callback([&g] {
    in_transaction(g, [](records::Env& env) {
      const auto rec = records::read(env, a.model, a.id);
      a.json ? print_json(rec) : print_record(rec);
    });
  });

  auto* list = r->add_subcommand("list", "list the records of a model");
  list->add_option("MODEL", a.model)->required();
  list->add_flag("--json", a.json, "JSON output");
  list->callback([&g] {
    in_transaction(g, [](records::Env& env) {
      const auto recs = records::list(env, a.model);
      if (a.json) return print_json(recs);
      for (const auto& rec : recs) {
        std::cout << rec["id"].dump() << "  " << (rec.contains("name") && rec["name"].is_string() ? rec["name"].get<std::string>() : "")
                  << "\n";
      }
    });
  });

  auto* del = r->add_subcommand("delete", "delete a record");
  del->add_option("MODEL", a.model)->required();
  del->add_option("ID", a.id)->required();
  del->callback([&g] { in_transaction(g, [](records::Env& env) { records::remove(env, a.model, a.id); }); });

  auto* action = r->add_subcommand("action", "run an action (a button) on a record");
  action->add_option("MODEL", a.model)->required();
  action->add_option("ID", a.id)->required();
  action->add_option("ACTION", a.action)->required();
  action->add_flag("--json", a.json, "JSON output");
  action->callback([&g] {
    Host& h = g.open();
    auto lock = h.db().lock();
    auto env = h.env();
    const records::ActionDef* def = env.registry.action(a.model, a.action);
    if (def == nullptr) throw UserError("model " + a.model + " has no action '" + a.action + "'");
    if (def->admin_only && !env.user.is_admin) throw UserError("only an administrator may run " + def->label);
    // A refused action changes nothing, unless it commits its own steps (fetch: store, then \Seen).
    std::optional<Transaction> tr;
    if (!def->own_transactions) tr.emplace(h.db().session());
    const auto result = def->invoke(env, a.id);
    if (tr) tr->commit();
    {
      if (a.json) return print_json(result);
      if (result.contains("message")) std::cout << result["message"].get<std::string>() << "\n";
      if (result.contains("url")) std::cout << result["url"].get<std::string>() << "\n";
      if (!result.contains("message") && !result.contains("url")) std::cout << result.dump() << "\n";
    }
  });
}

}  // namespace juniper::cli
