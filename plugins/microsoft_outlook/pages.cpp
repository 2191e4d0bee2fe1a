#include "pages.hpp"

namespace outlook {

nlohmann::json error_page(const std::string& explanation, const std::string& back_url) {
  return {{"title", "Outlook connection failed"},
          {"paragraphs", {explanation}},
          {"tone", "error"},
          {"links", {{{"href", back_url}, {"label", "Go back to your mail server"}}}}};
}

nlohmann::json forbidden_page() {
  return {{"title", "403 Forbidden"},
          {"paragraphs",
           {"This Outlook authorization link is invalid, expired or was already used. Go back to the mail server and click "
            "\u201cConnect your Outlook account\u201d again."}},
          {"tone", ""},
          {"links", {{{"href", "/web"}, {"label", "Back to Juniper"}}}}};
}

}  // namespace outlook
