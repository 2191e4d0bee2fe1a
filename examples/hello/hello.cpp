// The smallest useful module: a setting, a record type, an action and a route. Everything it
// knows of the host is <juniper/sdk/module.hpp>; its name and version come from CMakeLists.txt.
#include "juniper_module_info.h"

#include <juniper/sdk/module.hpp>

namespace {

namespace sdk = juniper::sdk;
using json = nlohmann::json;

std::string greeting(sdk::Context& ctx, const std::string& who) {
  return ctx.param("hello_word").value_or("Hello") + ", " + who + "!";
}

struct Hello {
  JUNIPER_MODULE_INFO

  static void declare(sdk::Registrar& reg) {
    reg.setting({.name = "hello_word",
                 .type = JUNIPER_FIELD_CHAR,
                 .label = "Greeting Word",
                 .default_value = "Hello",
                 .group = "Hello",
                 .help = "The word each greeting starts with"});
    reg.record_type("hello.greeting", "Greetings", {sdk::Field::chars("name", "Who").required()});
    reg.action("hello.greeting", "greet", "Greet", [](sdk::Context& ctx, std::int64_t id) {
      return json{{"message", greeting(ctx, ctx.read("hello.greeting", id).value("name", ""))}};
    });
    // GET /hello/greet?who=...: a page anyone may open.
    reg.route("GET", "/hello/greet", JUNIPER_AUTH_NONE, [](sdk::Context& ctx, const sdk::Request& rq, sdk::Response& rs) {
      rs.text(200, greeting(ctx, rq.query("who").value_or("world")));
    });
  }
};

}  // namespace

JUNIPER_MODULE(Hello)
