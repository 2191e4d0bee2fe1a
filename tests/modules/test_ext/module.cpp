// Extends a type owned by the module it depends on: a field, a selection value, a constraint and
// a change-default.
#include <juniper/sdk/module.hpp>

namespace {
namespace sdk = juniper::sdk;
using json = nlohmann::json;

struct TestExt {
  static constexpr const char* name = "test_ext";
  static constexpr const char* display_name = "Test Extension";
  static constexpr const char* version = "1.0.0";
  static constexpr const char* summary = "Extends test_base.partner";
  static constexpr const char* depends[] = {"test_base", nullptr};

  static void declare(sdk::Registrar& reg) {
    reg.extend("test_base.partner", {sdk::Field::chars("bank_code", "Bank Code")});
    reg.extend_selection("test_base.partner", "kind", {{"bank", "Bank"}}, "company");
    reg.change_default("test_base.partner", "kind", "bank", {{"vat", "BANK-VAT"}, {"score", 99}});
    reg.constraint("test_base.partner", "kind,bank_code", [](sdk::Context&, const json& rec) {
      if (rec.value("kind", "") == "bank" && (rec["bank_code"].is_null() || rec["bank_code"] == "")) {
        throw sdk::Error(JUNIPER_ERR_INVALID,
                         "Partner " + rec["name"].get<std::string>() + " is a bank: please fill its Bank Code.");
      }
    });
    mail_probe(reg);
    api_delivery(reg);
  }
  static void uninstall(sdk::Context& ctx) { ctx.set_param("test_ext.uninstalled", "yes"); }

  // The host's mail clients through the SDK (ABI 1.1): the endpoint comes from the parameter
  // test_ext.mail_endpoint (JSON), the answers go back as the action's result.
  static void mail_probe(sdk::Registrar& reg) {
    reg.action("test_base.partner", "smtp_probe", "SMTP Probe", [](sdk::Context& ctx, std::int64_t id) {
      const json ep = json::parse(ctx.param("test_ext.mail_endpoint").value_or("{}"));
      const std::string to = ctx.param("test_ext.mail_to").value_or("");
      sdk::SmtpSession smtp(ctx, ep);
      json results = json::array();
      for (int i = 0; i < 2; ++i) {  // two mails over the session's one connection
        const std::string data = "From: " + ep.value("user", std::string()) + "\r\nTo: " + to + "\r\nSubject: probe " +
                                 std::to_string(id) + "-" + std::to_string(i) + "\r\n\r\nsent by test_ext\r\n";
        results.push_back(smtp.send(ep.value("user", std::string()), {to}, data));
      }
      return json{{"results", results}};
    });
    reg.action("test_base.partner", "imap_probe", "IMAP Probe", [](sdk::Context& ctx, std::int64_t) {
      return ctx.imap_check(json::parse(ctx.param("test_ext.imap_endpoint").value_or("{}")));
    });
  }

  // A mail API instead of SMTP (ABI 1.3): outgoing servers of kind "test_api" are delivered by
  // this module. It answers what the parameter test_ext.deliver says (default: sent) and notes
  // the payload of each mail in test_ext.delivered.<mail id> (lanes deliver in parallel).
  static void api_delivery(sdk::Registrar& reg) {
    reg.extend_selection("ir.mail_server", "smtp_authentication", {{"test_api", "Test API"}, {"test_token", "Test Token"}},
                         "login");
    reg.hook(JUNIPER_HOOK_MAIL_TRANSPORT, 20, [](sdk::Context& ctx, const json& p) -> std::optional<json> {
      if (p.value("kind", "") == "test_token") return json::parse(ctx.param("test_ext.token_login").value_or("{}"));
      if (p.value("kind", "") != "test_api") return std::nullopt;
      json how = {{"delivery", "module"}};
      // ABI 1.6: attachments over this many bytes are handed apart.
      if (const auto apart = ctx.param("test_ext.apart_above")) how["attachments_apart_above"] = std::stoull(*apart);
      // ABI 1.7: the message stays under this many bytes (the largest attachments go apart).
      if (const auto max = ctx.param("test_ext.message_max")) how["message_max"] = std::stoull(*max);
      return how;
    });
    // A refused login of a "test_token" server, explained: the mails wait.
    reg.hook(JUNIPER_HOOK_MAIL_REFUSED, 20, [](sdk::Context&, const json& p) -> std::optional<json> {
      if (p.value("kind", "") != "test_token") return std::nullopt;
      return json{{"outcome", "wait"}, {"reason", "explained by test_ext: " + std::to_string(p.value("code", 0))}};
    });
    reg.hook(JUNIPER_HOOK_MAIL_DELIVER, 20, [](sdk::Context& ctx, const json& p) -> std::optional<json> {
      if (p.value("kind", "") != "test_api") return std::nullopt;
      json note = p;
      note.erase("message");
      note["has_message_id"] = p.value("message", "").find("Message-ID: <") != std::string::npos;
      note["message_size"] = p.value("message", "").size();
      // Attachments handed apart: read back in odd-sized pieces, as an upload would.
      json reads = json::array();
      for (const auto& a : p.value("attachments", json::array())) {
        std::string all;
        for (std::string piece; !(piece = ctx.mail_attachment(p.value("mail_id", 0L), a.value("index", 0),
                                                              static_cast<std::int64_t>(all.size()), 7001))
                                     .empty();) {
          all += piece;
        }
        reads.push_back(all);
      }
      note["read"] = reads;
      try {
        (void)ctx.mail_attachment(p.value("mail_id", 0L), 99, 0, 10);
      } catch (const sdk::Error& e) {
        note["index_99"] = e.code();
      }
      ctx.set_param("test_ext.delivered." + std::to_string(p.value("mail_id", 0L)), note.dump());
      const json answer = json::parse(ctx.param("test_ext.deliver").value_or(R"({"outcome": "sent"})"));
      if (answer.contains("throw")) throw sdk::Error(answer["throw"].get<int>(), answer.value("reason", "thrown"));
      return answer;
    });
  }
};
}  // namespace

JUNIPER_MODULE(TestExt)
