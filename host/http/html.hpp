// HTML escaping used by every page that interpolates data into markup.
#pragma once

#include <string>
#include <string_view>

namespace juniper::http {

// Escapes & < > " ' so the result is safe in element content and in quoted
// attribute values. Not sufficient inside <script>, <style> or unquoted attributes.
std::string escape_html(std::string_view s);

}  // namespace juniper::http
