// A module with one of everything the SDK offers, for the host's tests.
#include <juniper/sdk/module.hpp>

namespace {
namespace sdk = juniper::sdk;
using json = nlohmann::json;

struct TestBase {
  static constexpr const char* name = "test_base";
  static constexpr const char* display_name = "Test Base";
  static constexpr const char* version = "1.0.0";
  static constexpr const char* summary = "Record type, setting, action, route, hook";
  static constexpr const char* depends[] = {nullptr};

  static void declare(sdk::Registrar& reg) {
    reg.record_type(
        "test_base.partner", "Partner",
        {sdk::Field::chars("name", "Name").required(),
         sdk::Field::selection("kind", "Kind", {{"person", "Person"}, {"company", "Company"}}).defaults("person"),
         sdk::Field::chars("vat", "VAT"), sdk::Field::secret("api_key", "API Key"),
         sdk::Field::boolean("active", "Active").defaults("true"), sdk::Field::integer("score", "Score").defaults("10")},
        "score, id");
    reg.setting({.name = "test_base_greeting",
                 .type = JUNIPER_FIELD_CHAR,
                 .label = "Greeting",
                 .default_value = "hello",
                 .group = "Tests"});
    reg.action(
        "test_base.partner", "shout", "Shout",
        [](sdk::Context& ctx, std::int64_t id) {
          const json rec = ctx.read("test_base.partner", id);
          ctx.write("test_base.partner", id, {{"name", rec["name"].get<std::string>() + "!"}});
          return json{{"message", "Shouted at " + rec["name"].get<std::string>()}};
        },
        [](sdk::Context&, const json& rec) { return rec.value("kind", "") == "person"; });
    reg.route("GET", "/test_base/hello", JUNIPER_AUTH_NONE, [](sdk::Context& ctx, const sdk::Request& rq, sdk::Response& rs) {
      const std::string greeting = ctx.param("test_base_greeting").value_or("hello");
      rs.status(200);
      rs.header("Content-Type", "text/plain");
      rs.body(greeting + " " + rq.query("name").value_or("world"));
    });
    reg.route("GET", "/test_base/admin", JUNIPER_AUTH_ADMIN, [](sdk::Context& ctx, const sdk::Request&, sdk::Response& rs) {
      rs.html(200, "<p>admin page for " + ctx.info()["user"].get<std::string>() + "</p>");
    });
    // A page described, rendered by the host (escaped; off-site links dropped).
    reg.route("GET", "/test_base/page", JUNIPER_AUTH_ADMIN, [](sdk::Context&, const sdk::Request& rq, sdk::Response& rs) {
      if (rq.query("broken")) {
        sdk::host().response_page(reinterpret_cast<juniper_http_response*>(rs.handle()), 500, {"not json", 8});
        return;
      }
      rs.page(409, {{"title", "Said <b>" + rq.query("say").value_or("") + "</b>"},
                    {"paragraphs", {rq.query("say").value_or(""), "Second paragraph."}},
                    {"tone", "error"},
                    {"links",
                     {{{"href", "/web"}, {"label", "Home"}},
                      {{"href", "https://evil.example/"}, {"label", "Elsewhere"}},
                      {{"href", "//evil.example/"}, {"label", "Protocol-relative"}}}}});
    });
    // Waits on a peer (the test's) after a write: flagged network, so it runs outside any
    // transaction, the write is committed at once and other writers never wait on the peer.
    reg.route(
        "GET", "/test_base/relay", JUNIPER_AUTH_NONE,
        [](sdk::Context& ctx, const sdk::Request& rq, sdk::Response& rs) {
          ctx.create("test_base.partner", {{"name", "relay started"}});
          const auto answer = ctx.http("GET", rq.query("url").value_or(""), json::object());
          rs.status(200);
          rs.header("Content-Type", "text/plain");
          rs.body(answer.body);
        },
        sdk::RouteOptions{.network = true});
    // Counts record changes in a parameter: proves the hook runs inside the writer's transaction.
    reg.hook("record.changed", 10, [](sdk::Context& ctx, const json& payload) -> std::optional<json> {
      if (payload.value("model", "") != "test_base.partner") return std::nullopt;
      const int n = std::stoi(ctx.param("test_base.changes").value_or("0"));
      ctx.set_param("test_base.changes", std::to_string(n + 1));
      return json::object();
    });
  }
};
}  // namespace

JUNIPER_MODULE(TestBase)
