#include "pages.hpp"

namespace outlook {

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

namespace {
std::string page(const std::string& title, const std::string& body) {
  return "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>" + escape(title) +
         " - Juniper</title><style>body{font-family:sans-serif;max-width:50rem;margin:3rem auto;padding:0 1rem}"
         ".alert{background:#fff3cd;border:1px solid #e0c36a;padding:1rem}</style></head><body>" +
         body + "</body></html>";
}
}  // namespace

std::string error_page(const std::string& explanation, const std::string& back_url) {
  return page("Outlook connection failed", "<h1>Outlook connection failed</h1><div class=\"alert\" role=\"alert\"><p>" +
                                               escape(explanation) + "</p></div><p><a href=\"" + escape(back_url) +
                                               "\">Go back to your mail server</a></p>");
}

std::string forbidden_page() {
  return page("Forbidden",
              "<h1>403 Forbidden</h1><p>This Outlook authorization link is invalid, expired or was already "
              "used. Go back to the mail server and click <em>Connect your Outlook account</em> again.</p>"
              "<p><a href=\"/web\">Back to Juniper</a></p>");
}

}  // namespace outlook
