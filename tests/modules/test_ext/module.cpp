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
  }
  static void uninstall(sdk::Context& ctx) { ctx.set_param("test_ext.uninstalled", "yes"); }
};
}  // namespace

JUNIPER_MODULE(TestExt)
