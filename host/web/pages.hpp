// Small pages of the host (templates login and message) and the checks of what a client sends.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace juniper::web {

std::string login_page(std::string_view csrf_token, std::string_view redirect, std::string_view error);
std::string message_page(std::string_view title, std::string_view message, std::string_view back_url);
// A module's page (juniper_host_api.response_page) in the host's look: {"title", "paragraphs",
// "tone", "links"}; links off this site are dropped; unreadable JSON is logged and answered with
// a generic error page.
std::string module_page(std::string_view module, std::string_view page_json);

// Where to send the browser after login: `target` when it is a path on this site, else "/web".
// Refused: anything not starting with one '/', backslashes, whitespace, control or non-ASCII
// characters, and the same checks on every percent-decoded layer ("/%2F/evil.example",
// "/%09/evil.example": browsers drop tabs and newlines, making "//evil.example").
std::string safe_redirect(const std::optional<std::string>& target);

// A client-supplied value for the log: at most `max` characters (then "..."), control
// characters written as \xNN, so it can neither forge lines nor fill the disk.
std::string loggable(std::string_view value, std::size_t max = 64);

}  // namespace juniper::web
