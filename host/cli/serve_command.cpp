#include "cli/commands.hpp"
#include "web/web_app.hpp"

namespace juniper::cli {

void add_serve_command(CLI::App& app, Globals& g) {
  static std::string listen = "127.0.0.1:8069";
  auto* s = app.add_subcommand("serve", "serve the web pages and module routes until Ctrl-C");
  s->add_option("--listen", listen, "HOST:PORT to listen on (default 127.0.0.1:8069)");
  s->callback([&g] { web::serve(g.open(), listen); });
}

}  // namespace juniper::cli
