#include "app/follow_up.hpp"
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

// An action's answer: its message or URL, or with --json the JSON (one line when `line`, for
// the answers of a follow-up that a script reads as they come).
void print_answer(const nlohmann::json& answer, bool as_json, bool line = false) {
  if (as_json) {
    if (line) {
      std::cout << answer.dump() << std::endl;  // flushed: the first line comes long before the last
      return;
    }
    return print_json(answer);
  }
  if (answer.contains("message")) std::cout << answer["message"].get<std::string>() << std::endl;
  if (answer.contains("url")) std::cout << answer["url"].get<std::string>() << "\n";
  if (!answer.contains("message") && !answer.contains("url")) std::cout << answer.dump() << std::endl;
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
  write->callback(
      [&g] { in_transaction(g, [](records::Env& env) { records::write(env, a.model, a.id, parse_assignments(a.items)); }); });

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
        std::cout << rec["id"].dump() << "  "
                  << (rec.contains("name") && rec["name"].is_string() ? rec["name"].get<std::string>() : "") << "\n";
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
    const records::User system;  // the command line acts as the system user
    const auto answer = app::invoke_action(h, system, a.model, a.id, a.action);
    const auto follow_up = app::follow_up_of(h.env().registry, a.model, answer, std::chrono::system_clock::now());
    if (!follow_up) return print_answer(answer, a.json);
    // Work that ends later (a sign-in with a code): what to do now, then the outcome, each as
    // one line. Waiting here holds nothing: every run leases its own connection.
    print_answer(app::shown(answer), a.json, true);
    const auto outcome = app::follow(h, system, a.model, a.id, *follow_up, std::stop_token{});
    print_answer(app::shown(outcome), a.json, true);
    if (app::is_failure(outcome)) throw UserError(app::sentence(outcome, a.action + " failed"));
  });
}

}  // namespace juniper::cli
