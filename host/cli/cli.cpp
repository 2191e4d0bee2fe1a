#include "cli/commands.hpp"

#include "core/errors.hpp"

#include <cstdlib>
#include <iostream>

namespace juniper::cli {

Host& Globals::open(bool boot) {
  if (!host) {
    HostOptions o;
    o.data_dir = !data.empty() ? data : (std::getenv("JUNIPER_DATA") ? std::getenv("JUNIPER_DATA") : "juniper-data");
    o.db_url = !db.empty() ? db : (std::getenv("JUNIPER_DB") ? std::getenv("JUNIPER_DB") : "");
    for (const auto& p : module_paths) o.module_paths.emplace_back(p);
    host = std::make_unique<Host>(std::move(o));
    if (boot) host->boot();
  }
  return *host;
}

nlohmann::json parse_assignments(const std::vector<std::string>& items) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& item : items) {
    const auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0) throw UsageError("expected FIELD=VALUE, got '" + item + "'");
    out[item.substr(0, eq)] = item.substr(eq + 1);
  }
  return out;
}

void print_json(const nlohmann::json& j) { std::cout << j.dump(2) << "\n"; }

int run(int argc, char** argv) {
  CLI::App app{"juniper: a small ERP host that connects business mail to the mail services its modules provide"};
  app.require_subcommand(1);
  Globals g;
  app.add_option("--data", g.data, "data folder (default $JUNIPER_DATA, else ./juniper-data)");
  app.add_option("--db", g.db,
                 "database URL (default: SQLite in the data folder), e.g. postgresql://juniper@127.0.0.1:5432/juniper");
  app.add_option("--modules-path", g.module_paths, "folder with module libraries and manifests (repeatable)");
  add_admin_commands(app, g);
  add_record_commands(app, g);
  add_serve_command(app, g);
  add_mail_commands(app, g);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  } catch (const UsageError& e) {
    std::cerr << "juniper: " << e.what() << "\n";
    return 2;
  } catch (const UserError& e) {
    std::cerr << "juniper: " << e.what() << "\n";
    return 1;
  } catch (const soci::soci_error& e) {
    std::cerr << "juniper: database error: " << e.get_error_message() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "juniper: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace juniper::cli
