// Small HTML pages of the host. Every value shown goes through http::escape_html.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace juniper::web {

std::string page(std::string_view title, std::string_view body_html);
std::string login_page(std::string_view csrf_token, std::string_view redirect, std::string_view error);
std::string message_page(std::string_view title, std::string_view message, std::string_view back_url);

// Where to send the browser after login: `target` when it is a path on this site, else "/web".
// Refused: anything not starting with one '/', backslashes, whitespace, control or non-ASCII
// characters, and the same checks on every percent-decoded layer ("/%2F/evil.example",
// "/%09/evil.example": browsers drop tabs and newlines, making "//evil.example").
std::string safe_redirect(const std::optional<std::string>& target);

// A client-supplied value for the log: at most `max` characters (then "..."), control
// characters written as \xNN, so it can neither forge lines nor fill the disk.
std::string loggable(std::string_view value, std::size_t max = 64);

}  // namespace juniper::web
