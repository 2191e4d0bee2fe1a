// Microsoft Outlook module: Azure app credentials today; OAuth for outgoing (SMTP) and incoming
// (IMAP) servers lands with the Outlook issue on top of the mail core.
#include <juniper/sdk/module.hpp>

namespace {

namespace sdk = juniper::sdk;

struct MicrosoftOutlook {
  static constexpr const char* name = "microsoft_outlook";
  static constexpr const char* display_name = "Microsoft Outlook";
  static constexpr const char* version = "0.1.0";
  static constexpr const char* summary = "Outlook (Microsoft 365) OAuth for outgoing and incoming mail servers";
  static constexpr const char* depends[] = {nullptr};

  static void declare(sdk::Registrar& reg) {
    reg.setting({.name = "microsoft_outlook_client_identifier",
                 .config_parameter = "microsoft_outlook_client_id",
                 .type = JUNIPER_FIELD_CHAR,
                 .label = "Client ID",
                 .group = "Discuss",
                 .block = "Outlook Credentials",
                 .help = "Application (client) ID of your app registration in Microsoft Entra"});
    reg.setting({.name = "microsoft_outlook_client_secret",
                 .config_parameter = "microsoft_outlook_client_secret",
                 .type = JUNIPER_FIELD_SECRET,
                 .label = "Client Secret",
                 .secret = true,
                 .group = "Discuss",
                 .block = "Outlook Credentials",
                 .help = "The secret's Value (not its Secret ID) from Certificates & secrets"});
    reg.setting({.name = "microsoft_outlook_tenant",
                 .config_parameter = "microsoft_outlook_tenant",
                 .type = JUNIPER_FIELD_CHAR,
                 .label = "Tenant",
                 .default_value = "common",
                 .group = "Discuss",
                 .block = "Outlook Credentials",
                 .help = "common, organizations, consumers, or your tenant id or domain (single-tenant apps)"});
  }
};

}  // namespace

JUNIPER_MODULE(MicrosoftOutlook)
