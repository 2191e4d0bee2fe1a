// The two pages the OAuth callback can show, an explained error and a 403, as the host's page
// descriptions (sdk::Response::page): the host renders them in its look, escaped.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace outlook {

nlohmann::json error_page(const std::string& explanation, const std::string& back_url);
nlohmann::json forbidden_page();

}  // namespace outlook
