#include "web/pages.hpp"

#include "http/html.hpp"

namespace juniper::web {

using http::escape_html;

std::string page(std::string_view title, std::string_view body_html) {
  std::string out =
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>" + escape_html(title) +
      " - Juniper</title><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
      "<style>body{font-family:sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
      "label{display:block;margin-top:.8rem}input,select{padding:.3rem;min-width:20rem}input[type=checkbox]{min-width:0}"
      ".error{color:#a00;background:#fee;padding:.5rem}.ok{color:#060;background:#efe;padding:.5rem}"
      ".badge{display:inline-block;padding:.2rem .6rem;border-radius:.8rem}.badge.ok{background:#2e7d32;color:#fff}"
      ".badge.error{background:#c62828;color:#fff}.badge.muted{background:#ddd}table{border-collapse:collapse}"
      "td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}.field{margin:.4rem 0}</style>"
      "</head><body>\n";
  out += body_html;
  out += "\n</body></html>\n";
  return out;
}

std::string login_page(std::string_view csrf_token, std::string_view redirect, std::string_view error) {
  std::string body = "<h1>Log in</h1>";
  if (!error.empty()) body += "<p class=\"error\" role=\"alert\">" + escape_html(error) + "</p>";
  body += "<form method=\"post\" action=\"/web/login\">"
          "<input type=\"hidden\" name=\"csrf_token\" value=\"" + escape_html(csrf_token) + "\">"
          "<input type=\"hidden\" name=\"redirect\" value=\"" + escape_html(redirect) + "\">"
          "<label for=\"login\">Email</label><input id=\"login\" name=\"login\" autocomplete=\"username\" required>"
          "<label for=\"password\">Password</label>"
          "<input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>"
          "<p><button type=\"submit\">Log in</button></p></form>";
  return page("Log in", body);
}

std::string message_page(std::string_view title, std::string_view message, std::string_view back_url) {
  std::string body = "<h1>" + escape_html(title) + "</h1><p>" + escape_html(message) + "</p>";
  if (!back_url.empty()) body += "<p><a href=\"" + escape_html(back_url) + "\">Go back</a></p>";
  return page(title, body);
}

}  // namespace juniper::web
