#include "app/base_declarations.hpp"

#include "mail/actions.hpp"
#include "mail/config.hpp"
#include "mail/records.hpp"

namespace juniper {

namespace {

// web.base.url: how people reach the site; sign-in return addresses and links are built on it.
std::string check_base_url(std::string_view url) {
  const bool scheme = url.starts_with("http://") || url.starts_with("https://");
  const auto host = url.substr(url.find("//") == std::string_view::npos ? 0 : url.find("//") + 2);
  if (scheme && !host.empty() && host.front() != '/' && url.find_first_of(" \t\r\n\"<>") == std::string_view::npos) return {};
  return "must be the address people use to reach Juniper, such as https://erp.example.com";
}

}  // namespace

void declare_base(records::Registry& registry, modules::HookBus& hooks, ConfSource conf) {
  registry.add_param({"web.base.url", "base", check_base_url});
  mail::declare_params(registry);
  mail::declare_records(registry);
  mail::declare_actions(registry, hooks, std::move(conf));
}

}  // namespace juniper
