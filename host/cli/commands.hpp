// The `juniper` command line. Each add_* registers one command group on the CLI11 app; the
// Host is created lazily from the global options once a command runs.
#pragma once

#include "app/host.hpp"

#include <CLI/CLI.hpp>

#include <functional>
#include <iosfwd>

namespace juniper::cli {

struct Globals {
  std::string data;
  std::string db;
  std::vector<std::string> module_paths;
  std::unique_ptr<Host> host;

  Host& open(bool boot = true);  // creates the Host on first use
};

void add_admin_commands(CLI::App& app, Globals& g);   // init, module, param, settings, user
void add_record_commands(CLI::App& app, Globals& g);  // record create/write/read/list/delete/action
void add_serve_command(CLI::App& app, Globals& g);
void add_mail_commands(CLI::App& app, Globals& g);  // mail route/send/process/queue/fetch

// FIELD=VALUE pairs to a JSON object (values stay text; the record service types them).
nlohmann::json parse_assignments(const std::vector<std::string>& items);
void print_json(const nlohmann::json& j);

int run(int argc, char** argv);

}  // namespace juniper::cli
