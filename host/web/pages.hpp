// Small HTML pages of the host. Every value shown goes through http::escape_html.
#pragma once

#include <string>
#include <string_view>

namespace juniper::web {

std::string page(std::string_view title, std::string_view body_html);
std::string login_page(std::string_view csrf_token, std::string_view redirect, std::string_view error);
std::string message_page(std::string_view title, std::string_view message, std::string_view back_url);

}  // namespace juniper::web
