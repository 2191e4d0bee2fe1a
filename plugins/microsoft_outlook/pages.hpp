// The two pages the OAuth callback can show: an explained error, and a 403.
#pragma once

#include <string>

namespace outlook {

std::string escape(const std::string& s);
std::string error_page(const std::string& explanation, const std::string& back_url);
std::string forbidden_page();

}  // namespace outlook
