#include "aadsts.hpp"

#include <cstdlib>
#include <map>
#include <string_view>

namespace outlook {
namespace {

constexpr const char* kRedirectPlaceholder = "<your base URL>/microsoft_outlook/confirm";
constexpr const char* kRedirectMismatch =
    "The redirect URI does not match the app registration: register <your base URL>/microsoft_outlook/confirm as a Web "
    "redirect URI in Azure (App registrations → your app → Authentication), exactly as Settings → Outlook Credentials → "
    "Redirect URI shows it. Behind a reverse proxy, set web.base.url to the address people use.";

}  // namespace

long aadsts_code(const std::string& description) {
  const auto p = description.find("AADSTS");
  if (p == std::string::npos) return 0;
  return std::strtol(description.c_str() + p + 6, nullptr, 10);
}

std::string explain(const std::string& error, const std::string& description, const std::string& redirect_uri) {
  static const std::map<long, std::string> words = {
      {7000215,
       "The Client Secret is wrong. Did you paste the secret's ID instead of its Value? Copy the Value from "
       "Certificates & secrets in Azure and paste it in Settings."},
      {7000222,
       "The Client Secret has expired. Create a new client secret in Azure (Certificates & secrets) and paste "
       "its Value in Settings."},
      {700027,
       "The certificate in Settings is not registered on the app: upload its public part in Azure (Certificates & "
       "secrets → Certificates), or paste the certificate that is."},
      {700023,
       "Microsoft did not accept the client assertion's signature: the private key in Settings must be the "
       "certificate's."},
      {700024, "Microsoft found the client assertion outside its time range: check this server's clock (NTP)."},
      {700021, "The client assertion does not name this Client ID: check the Client ID in Settings."},
      {50194,
       "This Azure app is single-tenant: set the Tenant in Settings to your tenant ID or domain instead of "
       "'common'."},
      {700016, "No app with this Client ID exists in that directory: check the Client ID and the Tenant in Settings."},
      {65001,
       "The permissions were not granted: consent to SMTP.Send / IMAP.AccessAsUser.All (or Mail.Send / "
       "Mail.ReadWrite for Microsoft Graph) for this app, then connect the account again."},
      {65004,
       "The sign-in was cancelled at Microsoft (consent declined). Connect the account again and accept the "
       "permissions."},
      {70000, "The sign-in has expired or was already used: connect the account again."},
      {54005, "The sign-in has expired or was already used: connect the account again."},
      {70008, "The sign-in has expired or was already used: connect the account again."},
      {9002313, "The Outlook authorization was revoked or has expired: reconnect the Outlook account."},
      {50173, "The Outlook authorization was revoked or has expired: reconnect the Outlook account."},
      {700082, "The Outlook authorization was revoked or has expired: reconnect the Outlook account."},
      {50076,
       "Multi-factor authentication or a conditional access policy blocks this sign-in: ask your Microsoft 365 "
       "administrator, then connect again."},
      {50079,
       "Multi-factor authentication or a conditional access policy blocks this sign-in: ask your Microsoft 365 "
       "administrator, then connect again."},
      {53003,
       "Multi-factor authentication or a conditional access policy blocks this sign-in: ask your Microsoft 365 "
       "administrator, then connect again."},
      {7000218,
       "Signing in with a code needs public client flows: in Azure, App registrations → your app → "
       "Authentication → Advanced settings, set Allow public client flows to Yes, then try again."},
      {50059,
       "Microsoft could not tell which directory to sign in to: set the Tenant in Settings to your tenant ID "
       "or domain instead of common."},
      {50011, kRedirectMismatch},
      {500112, kRedirectMismatch},
  };
  const long code = aadsts_code(description);
  if (const auto it = words.find(code); it != words.end()) {
    std::string said = it->second;
    if (const auto p = said.find(kRedirectPlaceholder); p != std::string::npos && !redirect_uri.empty()) {
      said.replace(p, std::string_view(kRedirectPlaceholder).size(), redirect_uri);
    }
    return said + " (AADSTS" + std::to_string(code) + ")";
  }
  if (error == "access_denied")
    return "The sign-in was cancelled at Microsoft. Connect the account again and accept the permissions.";
  if (!description.empty()) return "Microsoft answered: " + description;
  return error.empty() ? "Microsoft answered with an unknown error." : "Microsoft answered: " + error;
}

bool needs_reconnect(const std::string& error, long code) {
  return error == "invalid_grant" || code == 9002313 || code == 50173 || code == 700082 || code == 65001;
}

}  // namespace outlook
