#include "web/admin_pages.hpp"

#include "app/alerts.hpp"
#include "core/crypto.hpp"
#include "core/errors.hpp"
#include "core/log.hpp"
#include "http/html.hpp"
#include "mail/queue.hpp"
#include "mail/records.hpp"
#include "records/params.hpp"
#include "records/record_service.hpp"
#include "records/settings.hpp"
#include "web/origin.hpp"
#include "web/pages.hpp"
#include "web/web_app.hpp"

#include <algorithm>
#include <iterator>
#include <map>
#include <set>
#include <string_view>

namespace juniper::web {
namespace {

using http::escape_html;
using http::Request;
using http::Response;
using json = nlohmann::json;

std::string str(const json& v) {
  if (v.is_null()) return "";
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

std::string csrf_input(const http::Session& s) {
  return "<input type=\"hidden\" name=\"csrf_token\" value=\"" + escape_html(s.csrf_token) + "\">";
}

bool csrf_ok(const Request& req, const http::Session& s) {
  return http::SessionStore::check_csrf(s, req.form_param("csrf_token").value_or(""));
}

Response csrf_refused() {
  return Response::html(403, message_page("Access denied",
                                          "The form's security token is missing or wrong. Reload the page "
                                          "and try again.",
                                          "/web"));
}

std::string banner(const std::string& message, bool error) {
  if (message.empty()) return "";
  return std::string("<p class=\"") + (error ? "error" : "ok") + "\" role=\"" + (error ? "alert" : "status") + "\">" +
         escape_html(message) + "</p>";
}

// Where admin() puts the warnings every admin page shows (the pages themselves need no database).
constexpr std::string_view kWarningsSlot = "<!--juniper-warnings-->";
// Settings: ticking a checkbox shows what depends on it (data-shown-if) without a round trip.
constexpr std::string_view kRevealScript =
    "<script>document.querySelectorAll('input[type=checkbox]').forEach(function (box) {"
    "box.addEventListener('change', function () {"
    "document.querySelectorAll('[data-shown-if=\"' + box.name + '\"]').forEach(function (e) { e.hidden = !box.checked; });"
    "});});</script>";

std::string warnings_html(const std::vector<alerts::Warning>& warnings) {
  std::string out;
  for (const auto& w : warnings) {
    out += "<p class=\"error\" role=\"alert\" data-warning=\"" + escape_html(w.key) + "\">" + escape_html(w.text);
    if (!w.link.empty() && w.link.front() == '/') out += " <a href=\"" + escape_html(w.link) + "\">Fix it</a>";
    out += "</p>";
  }
  return out;
}

std::string layout(const http::Session& s, const std::string& title, const std::string& body) {
  std::string nav =
      "<nav><a href=\"/web\">Home</a> | <a href=\"/web/apps\">Apps</a> | <a href=\"/web/settings\">Settings</a> | "
      "<a href=\"/web/list/ir.mail_server\">Outgoing Email Servers</a> | <a href=\"/web/compose\">Compose</a> | "
      "Technical: <a href=\"/web/list/fetchmail.server\">Incoming Mail Servers</a>, <a href=\"/web/params\">System "
      "Parameters</a>, <a href=\"/web/list/mail.mail\">Emails</a>, <a href=\"/web/list/mail.message\">Incoming messages</a>"
      " | <form method=\"post\" action=\"/web/logout\" style=\"display:inline\">" +
      csrf_input(s) + "<button type=\"submit\">Log out " + escape_html(s.login) + "</button></form></nav><hr>" +
      std::string(kWarningsSlot);
  return page(title, nav + "<h1>" + escape_html(title) + "</h1>" + body);
}

Response html(const http::Session& s, const std::string& title, const std::string& body, int status = 200) {
  return Response::html(status, layout(s, title, body));
}

// ---- generated forms -----------------------------------------------------------------------

// What a list or an output shows for a value: a selection's label, not its stored value.
std::string display(const records::FieldDef& f, const json& value) {
  const std::string v = str(value);
  for (const auto& c : f.choices) {
    if (c.value == v) return c.label;
  }
  return v;
}

// A date and time as people read it: "2026-12-02 23:58 UTC" in the page, turned into the
// reader's own time zone by the page's script (the exact ISO value stays in `datetime`).
std::string time_html(const json& value) {
  const std::string v = str(value);
  if (v.size() < 16 || v[4] != '-' || v[7] != '-' || (v[10] != 'T' && v[10] != ' ') || v[13] != ':') return escape_html(v);
  const std::size_t offset = v.find_first_of("+-Z", 16);  // "+02:00", "Z"; none: UTC, as the host writes
  const std::string zone = offset == std::string::npos || v[offset] == 'Z' ? "UTC" : v.substr(offset);
  // The machine-readable value always carries its zone, so the script never takes it for local time.
  const std::string exact = v.substr(0, 10) + "T" + v.substr(11) + (offset == std::string::npos ? "Z" : "");
  return "<time datetime=\"" + escape_html(exact) + "\">" + escape_html(v.substr(0, 10) + " " + v.substr(11, 5) + " " + zone) +
         "</time>";
}

// A field declared shown_if "field=value" appears only on records where that holds (a module's
// fields on the records of its own kind).
bool shown(const records::FieldDef& f, const json& rec) {
  if (f.shown_if.empty()) return true;
  const auto eq = f.shown_if.find('=');
  return str(rec.value(f.shown_if.substr(0, eq), json())) == f.shown_if.substr(eq + 1);
}

// "Outgoing Mail Servers" -> "Outgoing Mail Server": type labels are plural (list titles).
std::string singular(std::string label) {
  if (label.size() > 1 && label.back() == 's') label.pop_back();
  return label;
}

// What a record is called on pages: its name (or subject), else its id.
std::string record_title(const json& rec) {
  for (const char* k : {"name", "subject"}) {
    if (rec.contains(k) && !str(rec[k]).empty()) return str(rec[k]);
  }
  return "#" + str(rec.value("id", json()));
}

// The records a many-to-one field may point at, by title, for its select; empty when there are
// too many to list (then a number box, as before).
constexpr std::size_t kMaxChoices = 500;
std::vector<std::pair<std::int64_t, std::string>> relation_choices(records::Env& env, const records::FieldDef& f) {
  std::vector<std::pair<std::int64_t, std::string>> out;
  const auto ids = records::search(env, f.relation, json::object(), kMaxChoices + 1, 0);
  if (ids.size() > kMaxChoices) return out;
  for (const auto id : ids) out.emplace_back(id, record_title(records::read(env, f.relation, id)));
  return out;
}

// A many-to-one value as the related record's title, linked ("" when none; the id when gone).
std::string relation_link(records::Env& env, const records::FieldDef& f, const json& value) {
  if (!value.is_number_integer()) return "";
  const std::int64_t id = value.get<std::int64_t>();
  std::string title = "#" + std::to_string(id);
  try {
    title = record_title(records::read(env, f.relation, id));
  } catch (const std::exception&) {
    return escape_html(title);  // deleted since
  }
  return "<a href=\"/web/record/" + escape_html(f.relation) + "/" + std::to_string(id) + "\">" + escape_html(title) + "</a>";
}

bool is_badge(const records::FieldDef& f) { return f.type == records::FieldType::selection && f.badge; }

// Coloured by the tone the module gave the value: the host does not know what a status means.
std::string badge(const records::FieldDef& f, const json& value) {
  const std::string v = str(value);
  const std::string label = display(f, value);
  const auto it = std::find_if(f.choices.begin(), f.choices.end(), [&](const records::Choice& c) { return c.value == v; });
  const std::string cls = it == f.choices.end() || it->tone.empty() ? "muted" : it->tone;
  return "<p><span class=\"badge " + cls + "\" data-field=\"" + escape_html(f.name) + "\">" + escape_html(label) + "</span></p>";
}

// A selection a module asked to show as a checkbox ("Outlook"): the field holds the fallback
// and that one value only. Null: shown as a plain choice.
const records::SelectionFallback* checkbox_of(const records::RecordType* t, const records::FieldDef& f) {
  if (t == nullptr || f.type != records::FieldType::selection || f.choices.size() != 2) return nullptr;
  for (const auto& fb : t->selection_fallbacks) {
    if (fb.field == f.name && !fb.checkbox_label.empty() && fb.values.size() == 1) return &fb;
  }
  return nullptr;
}

std::string field_input(const records::FieldDef& f, const json& value, const records::RecordType* type = nullptr) {
  const std::string id = "f_" + f.name;
  const std::string label = "<label for=\"" + id + "\">" + escape_html(f.label) + "</label>";
  if (f.readonly) {
    const std::string shown = f.type == records::FieldType::datetime ? time_html(value) : escape_html(display(f, value));
    return label + "<output id=\"" + id + "\">" + shown + "</output>";
  }
  if (const auto* cb = checkbox_of(type, f)) {
    const std::string& v = cb->values.front();
    return "<input type=\"hidden\" name=\"__present_" + f.name + "\" value=\"1\"><label for=\"" + id +
           "\"><input type=\"checkbox\" id=\"" + id + "\" name=\"" + f.name + "\" value=\"" + escape_html(v) + "\"" +
           (str(value) == v ? " checked" : "") + "> " + escape_html(cb->checkbox_label) + "</label>";
  }
  switch (f.type) {
    case records::FieldType::boolean:
      return "<input type=\"hidden\" name=\"__present_" + f.name + "\" value=\"1\"><label for=\"" + id +
             "\"><input type=\"checkbox\" id=\"" + id + "\" name=\"" + f.name + "\" value=\"1\"" +
             (value.is_boolean() && value.get<bool>() ? " checked" : "") + "> " + escape_html(f.label) + "</label>";
    case records::FieldType::selection: {
      std::string out = label + "<select id=\"" + id + "\" name=\"" + f.name + "\">";
      for (const auto& c : f.choices) {
        out += "<option value=\"" + escape_html(c.value) + "\"" + (str(value) == c.value ? " selected" : "") + ">" +
               escape_html(c.label) + "</option>";
      }
      return out + "</select>";
    }
    case records::FieldType::text:
      return label + "<textarea id=\"" + id + "\" name=\"" + f.name + "\" rows=\"4\">" + escape_html(str(value)) + "</textarea>";
    case records::FieldType::secret:
      // Never sent back to the browser: empty keeps the stored value.
      return label + "<input type=\"password\" id=\"" + id + "\" name=\"" + f.name + "\" autocomplete=\"new-password\"" +
             " placeholder=\"" + (str(value) == "set" ? "(set; leave empty to keep)" : "") + "\">";
    case records::FieldType::integer:
    case records::FieldType::many2one:
      return label + "<input type=\"number\" id=\"" + id + "\" name=\"" + f.name + "\" value=\"" + escape_html(str(value)) +
             "\">";
    default:
      return label + "<input id=\"" + id + "\" name=\"" + f.name + "\" value=\"" + escape_html(str(value)) + "\">";
  }
}

// The values a submitted record form changes (checkboxes absent = false; empty secrets = keep).
// Only what differs from `before` (the stored record, or the defaults of a new one) counts as
// set by the person, so change-defaults (choosing Outlook fills host and port) still apply.
json form_values(const records::RecordType& t, const Request& req, const json& before) {
  json v = json::object();
  for (const auto& f : t.fields) {
    if (f.readonly || f.hidden) continue;
    json value;
    if (f.type == records::FieldType::boolean) {
      if (!req.form_param("__present_" + f.name)) continue;
      value = req.form_param(f.name).has_value();
    } else if (const auto* cb = checkbox_of(&t, f); cb && req.form_param("__present_" + f.name)) {
      value = req.form_param(f.name).has_value() ? cb->values.front() : cb->fallback;  // unchecked: the fallback
    } else {
      const auto p = req.form_param(f.name);
      if (!p || (f.type == records::FieldType::secret && p->empty())) continue;
      value = *p;
    }
    if (str(value) == str(before.value(f.name, json())) || (value == "" && before.value(f.name, json()).is_null())) continue;
    v[f.name] = value;
  }
  return v;
}

json defaults_of(const records::RecordType& t) {
  json d = json::object();
  for (const auto& f : t.fields) {
    if (f.default_value)
      d[f.name] = f.type == records::FieldType::boolean ? json(*f.default_value == "true") : json(*f.default_value);
  }
  return d;
}

// A many-to-one field: the related record's title (a link) when read-only, else a select of the
// records it may point at (a number box when there are too many to list).
std::string relation_input(records::Env& env, const records::FieldDef& f, const json& value) {
  const std::string id = "f_" + f.name;
  const std::string label = "<label for=\"" + id + "\">" + escape_html(f.label) + "</label>";
  if (f.readonly) return label + "<output id=\"" + id + "\">" + relation_link(env, f, value) + "</output>";
  const auto choices = relation_choices(env, f);
  if (choices.empty() && records::search(env, f.relation, json::object(), 1, 0).size() == 1) return field_input(f, value);
  std::string out = label + "<select id=\"" + id + "\" name=\"" + f.name + "\"><option value=\"\"></option>";
  for (const auto& [rid, title] : choices) {
    const bool selected = value.is_number_integer() && value.get<std::int64_t>() == rid;
    out +=
        "<option value=\"" + std::to_string(rid) + "\"" + (selected ? " selected" : "") + ">" + escape_html(title) + "</option>";
  }
  return out + "</select>";
}

// An incoming message read as a message: who, when, what about, its text, its HTML in a
// sandboxed frame (/html: no script runs, nothing is fetched from elsewhere), its attachments.
std::string message_view(const json& rec) {
  std::string out = "<article class=\"message\"><dl>";
  for (const auto& [key, label] :
       {std::pair{"email_from", "From"}, {"email_to", "To"}, {"email_cc", "Cc"}, {"subject", "Subject"}}) {
    if (!str(rec.value(key, json())).empty()) {
      out += std::string("<dt>") + label + "</dt><dd>" + escape_html(str(rec[key])) + "</dd>";
    }
  }
  if (!str(rec.value("date", json())).empty()) out += "<dt>Date</dt><dd>" + time_html(rec["date"]) + "</dd>";
  out += "</dl>";
  if (!str(rec.value("body_text", json())).empty()) {
    out += "<pre class=\"body\" style=\"white-space:pre-wrap\">" + escape_html(str(rec["body_text"])) + "</pre>";
  }
  if (!str(rec.value("body_html", json())).empty()) {
    out += "<iframe sandbox src=\"/web/record/mail.message/" + str(rec["id"]) +
           "/html\" title=\"The message as HTML\" style=\"width:100%;height:24rem;border:1px solid #ccc\"></iframe>";
  }
  json atts = json::array();
  try {
    if (!str(rec.value("attachments", json())).empty()) atts = json::parse(str(rec["attachments"]));
  } catch (const json::exception&) {
  }
  if (atts.is_array() && !atts.empty()) {
    out += "<p>Attachments (names and sizes are kept; the files stay in the mailbox):</p><ul>";
    for (const auto& a : atts) {
      if (!a.is_object()) continue;
      out += "<li>" + escape_html(a.value("filename", std::string("(no name)"))) + " (" +
             escape_html(a.value("content_type", std::string("?"))) + ", " +
             std::to_string((a.value("size", std::size_t{0}) + 1023) / 1024) + " kB)</li>";
    }
    out += "</ul>";
  }
  return out + "</article>";
}

std::string record_form(records::Env& env, const http::Session& s, const records::RecordType& t, const json& rec,
                        const std::string& message, bool error) {
  const bool is_new = !rec.contains("id") || rec["id"].is_null();
  const std::string base = "/web/record/" + t.name + "/" + (is_new ? std::string("new") : str(rec["id"]));
  // Which record this is: the list it belongs to, then its name.
  const std::string title = is_new ? "New " + singular(t.label) : record_title(rec);
  std::string body = "<p class=\"breadcrumb\"><a href=\"/web/list/" + escape_html(t.name) + "\">" + escape_html(t.label) +
                     "</a> / " + escape_html(title) + "</p><h2>" + escape_html(title) + "</h2>" + banner(message, error);
  for (const auto& f : t.fields) {
    if (is_badge(f) && !is_new && shown(f, rec)) body += badge(f, rec.value(f.name, json()));
  }
  const bool message_read = t.name == mail::kMessage && !is_new;
  if (message_read) body += message_view(rec);
  body += "<form method=\"post\" action=\"" + escape_html(base) + "\">" + csrf_input(s);
  for (const auto& f : t.fields) {
    if (f.hidden || (is_badge(f) && !is_new) || !shown(f, rec)) continue;
    if (message_read && (f.name == "body_text" || f.name == "body_html" || f.name == "attachments")) continue;  // shown above
    if (f.readonly && is_new) continue;
    const json value = rec.value(f.name, json());
    if (f.readonly && (value.is_null() || str(value).empty())) continue;  // no empty labels ("Last Error")
    body += "<div class=\"field\">" +
            (f.type == records::FieldType::many2one ? relation_input(env, f, value) : field_input(f, value, &t)) +
            (f.help.empty() ? "" : "<div><small class=\"help\">" + escape_html(f.help) + "</small></div>") + "</div>";
  }
  body += "<p><button type=\"submit\">Save</button></p></form>";
  if (!is_new) {
    std::string buttons;
    for (const auto& a : env.registry.actions()) {
      if (a.model != t.name) continue;
      if (a.hidden || (a.visible && !a.visible(env, rec))) continue;
      buttons += "<form method=\"post\" action=\"" + escape_html(base + "/action/" + a.name) + "\" style=\"display:inline\">" +
                 csrf_input(s) + "<button type=\"submit\">" + escape_html(a.label) + "</button></form> ";
    }
    if (!buttons.empty()) body += "<p class=\"actions\">" + buttons + "</p>";
    // A GET to the confirmation page: only its POST deletes.
    body +=
        "<form method=\"get\" action=\"" + escape_html(base + "/delete") + "\"><button type=\"submit\">Delete</button></form>";
  }
  body += "<p><a href=\"/web/list/" + escape_html(t.name) + "\">Back to the list</a></p>";
  return body;
}

// ---- confirmations of destructive actions ---------------------------------------------------

// "Delete X?" with a Confirm button (a POST carrying the CSRF token and `hidden`) and a Cancel
// link back: plain HTML, no script. `what` is shown escaped.
std::string confirm_delete_form(const http::Session& s, const std::string& what, const std::string& action,
                                const std::string& hidden, const std::string& cancel_url) {
  return "<p>Delete " + escape_html(what) + "? This cannot be undone.</p><form method=\"post\" action=\"" + escape_html(action) +
         "\">" + csrf_input(s) + hidden + "<button type=\"submit\">Confirm</button> <a href=\"" + escape_html(cancel_url) +
         "\">Cancel</a></form>";
}

// Parameters the host itself needs: deleting database.secret would make every stored secret unreadable.
bool protected_param(std::string_view key) {
  static constexpr std::string_view kProtected[] = {"database.secret"};
  return std::find(std::begin(kProtected), std::end(kProtected), key) != std::end(kProtected);
}

Response param_protected(const http::Session& s, const std::string& key) {
  return html(s, "Refused",
              banner("The system parameter " + key +
                         " is protected: the host needs it, it cannot be deleted or changed here. "
                         "Nothing was changed.",
                     true) +
                  "<p><a href=\"/web/params\">Back to System Parameters</a></p>",
              403);
}

constexpr std::size_t kListPage = 100;  // rows per list page

std::size_t page_number(const Request& req) {
  const std::string p = req.query_param("page").value_or("1");
  if (p.empty() || p.size() > 6 || !std::all_of(p.begin(), p.end(), [](char c) { return c >= '0' && c <= '9'; })) return 1;
  return std::max<std::size_t>(1, std::stoul(p));
}

// "Previous | Page N | Next" under a list; links only where there is a page to go to.
std::string pager(const std::string& base, std::size_t page, bool more) {
  if (page == 1 && !more) return "";
  std::string out = "<p class=\"pager\">";
  if (page > 1) out += "<a href=\"" + escape_html(base) + "?page=" + std::to_string(page - 1) + "\">Previous</a> | ";
  out += "Page " + std::to_string(page);
  if (more) out += " | <a href=\"" + escape_html(base) + "?page=" + std::to_string(page + 1) + "\">Next</a>";
  return out + "</p>";
}

// A list cell: long texts (a failure reason) cut to a line's worth, never inside a UTF-8 character.
std::string cell(const records::FieldDef& f, const json& value) {
  constexpr std::size_t kCell = 160;
  std::string v = display(f, value);
  if (v.size() <= kCell) return v;
  std::size_t cut = kCell;
  while (cut > 0 && (static_cast<unsigned char>(v[cut]) & 0xC0) == 0x80) --cut;
  return v.substr(0, cut) + "…";
}

std::vector<const records::FieldDef*> list_columns(const records::RecordType& t) {
  std::vector<const records::FieldDef*> cols;
  for (const auto& f : t.fields) {
    if (f.hidden || f.type == records::FieldType::secret) continue;
    if (f.listed || is_badge(f) || (cols.size() < 6 && f.type != records::FieldType::text)) cols.push_back(&f);
  }
  return cols;
}

// ---- handlers --------------------------------------------------------------------------------

// What a form shows when saving failed: a refusal as it is; anything else (a full disk, a broken
// database) logged with a reference, and said in words with what to do. The input is kept.
std::string failure_text(const std::exception& e, const std::string& what) {
  if (dynamic_cast<const UserError*>(&e) != nullptr) return e.what();
  const std::string ref = crypto::random_token(4);
  log::error("web", what + " failed (reference " + ref + "): " + e.what());
  std::string why = e.what();
  while (!why.empty() && why.back() == '.') why.pop_back();
  return "Could not save " + what + ": " + why +
         ". Nothing was changed and what you typed is kept below. Check the server's free disk space and database, then "
         "save again (reference " +
         ref + " in juniper.log).";
}

class Pages {
 public:
  explicit Pages(WebApp& app) : app_(app), host_(app.host()) {}

  template <class F>
  Response admin(const Request& req, F&& f) {
    auto who = app_.require_admin(req);
    if (auto* r = std::get_if<Response>(&who)) return *r;
    const auto& s = std::get<http::Session>(who);
    Response r = [&] {
      try {
        return f(s);
      } catch (const UserError& e) {
        return html(s, "Refused", banner(e.what(), true), 400);
      } catch (const std::exception& e) {
        return html(s, "Error", banner(failure_text(e, "the page " + req.path), true), 500);
      }
    }();
    if (const auto at = r.body.find(kWarningsSlot); at != std::string::npos) {
      r.body.replace(at, kWarningsSlot.size(), warnings_html(current_warnings()));
    }
    return r;
  }

  // What modules warn about right now (a secret about to expire, a token that cannot be
  // refreshed); a failure to ask is logged, never the page's failure.
  std::vector<alerts::Warning> current_warnings() {
    try {
      auto lock = host_.db().lock();
      auto env = host_.env();
      return alerts::collect(env, host_.modules().hooks(), std::chrono::system_clock::now());
    } catch (const std::exception& e) {
      log::warning("web", std::string("warnings unavailable: ") + e.what());
      return {};
    }
  }

  Response home(const Request& req) {
    return admin(req, [&](const http::Session& s) {
      return html(s, "Juniper",
                  "<ul><li><a href=\"/web/apps\">Apps</a></li><li><a href=\"/web/settings\">Settings</a> "
                  "(General Settings)</li><li><a href=\"/web/list/ir.mail_server\">Outgoing Email Servers</a>"
                  "</li><li><a href=\"/web/compose\">Compose</a></li></ul>");
    });
  }

  Response apps(const Request& req) {
    return admin(req, [&](const http::Session& s) {
      auto lock = host_.db().lock();
      const std::string search = req.query_param("search").value_or("");
      std::string body = banner(req.query_param("message").value_or(""), false) +
                         "<form method=\"get\" action=\"/web/apps\"><label for=\"search\">Search</label><input id=\"search\" "
                         "name=\"search\" type=\"search\" value=\"" +
                         escape_html(search) +
                         "\"> <button type=\"submit\">"
                         "Search</button></form><ul class=\"apps\">";
      auto lower = [](std::string x) {
        for (auto& c : x) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        return x;
      };
      for (const auto& m : host_.modules().list()) {
        const std::string hay = lower(m.manifest.name + " " + m.manifest.display_name + " " + m.manifest.summary);
        if (!search.empty() && hay.find(lower(search)) == std::string::npos) continue;
        const bool installed = m.state == "installed";
        body += "<li><strong>" + escape_html(m.manifest.display_name) + "</strong> <small>" + escape_html(m.manifest.name) + " " +
                escape_html(m.manifest.version) + "</small><br>" + escape_html(m.manifest.summary) +
                "<form method=\"post\" action=\"/web/apps/" + (installed ? "uninstall" : "install") + "\">" + csrf_input(s) +
                "<input type=\"hidden\" name=\"name\" value=\"" + escape_html(m.manifest.name) + "\"><button type=\"submit\">" +
                (installed ? "Uninstall" : "Install") + "</button></form>" + (m.problem.empty() ? "" : banner(m.problem, true)) +
                "</li>";
      }
      return html(s, "Apps", body + "</ul>");
    });
  }

  Response apps_change(const Request& req, bool install) {
    return admin(req, [&](const http::Session& s) {
      if (!csrf_ok(req, s)) return csrf_refused();
      const std::string name = req.form_param("name").value_or("");
      std::string shown_name = name;
      {
        auto lock = host_.db().lock();
        install ? host_.modules().install({name}) : host_.modules().uninstall({name});
        for (const auto& m : host_.modules().list()) {
          if (m.manifest.name == name && !m.manifest.display_name.empty()) shown_name = m.manifest.display_name;
        }
      }
      app_.routes_changed();
      return Response::redirect("/web/apps?message=" + http::url_encode((install ? "Installed " : "Uninstalled ") + shown_name));
    });
  }

  // When this page was reached at another address than web.base.url: the addresses the host
  // gives out (sign-in callbacks to register at a provider, links in mails) would not be the
  // one people use. Behind a reverse proxy, its forwarded headers count only from
  // web.trusted_proxies.
  std::string address_warning(records::Env& env, const Request& req) {
    const std::string base = records::param_get(env, "web.base.url").value_or("");
    const std::string configured = origin_of(base);
    const Seen here = seen(req, parse_proxies(records::param_get(env, "web.trusted_proxies").value_or("")));
    if (configured.empty() || here.origin.empty() || configured == here.origin) return "";
    return "<p class=\"warning\" role=\"alert\" id=\"address-warning\">This page was reached at " + escape_html(here.origin) +
           ", but web.base.url is " + escape_html(configured) +
           ": the addresses Juniper gives out (sign-in return addresses to register, links in mails) use web.base.url. "
           "Set web.base.url to the address people use (System Parameters), or, behind a reverse proxy, add the proxy's "
           "address to web.trusted_proxies so that its X-Forwarded-Proto and X-Forwarded-Host are believed.</p>";
  }

  // A computed setting: read-only, with a button that copies it (the exact value to register).
  static std::string copy_field(const records::SettingDef& d, const json& value) {
    const std::string id = "f_" + d.name;
    std::string out = "<label for=\"" + id + "\">" + escape_html(d.label) + "</label><input id=\"" + id +
                      "\" readonly size=\"60\" value=\"" + escape_html(str(value)) +
                      "\"> <button type=\"button\" onclick=\"const i = "
                      "document.getElementById('" +
                      id +
                      "'); i.select(); navigator.clipboard ? navigator.clipboard.writeText(i.value) "
                      ": document.execCommand('copy');\">Copy</button>";
    if (!d.help.empty()) out += "<div><small>" + escape_html(d.help) + "</small></div>";
    return out;
  }

  Response settings(const Request& req, const std::string& message = "", bool error = false) {
    return admin(req, [&](const http::Session& s) {
      auto lock = host_.db().lock();
      auto env = host_.env();
      const auto values = records::settings_show(env);
      std::set<std::string> on;
      for (const auto& v : values) {
        if (v.value.is_boolean() && v.value.get<bool>()) on.insert(v.def->name);
      }
      std::string body =
          banner(message, error) + address_warning(env, req) + "<form method=\"post\" action=\"/web/settings\">" + csrf_input(s);
      std::vector<std::string> groups;
      for (const auto& v : values) {
        if (std::find(groups.begin(), groups.end(), v.def->group) == groups.end()) groups.push_back(v.def->group);
      }
      for (const auto& g : groups) {
        body += "<section><h2>" + escape_html(g.empty() ? "General" : g) + "</h2>";
        std::string block;
        for (const auto& v : values) {
          if (v.def->group != g) continue;
          // Shown with the setting it depends on: present but hidden while that one is off, so
          // ticking it reveals them at once (the script below); without a script, Save does.
          const std::string when = v.def->shown_if.empty() ? ""
                                                           : " data-shown-if=\"" + escape_html(v.def->shown_if) + "\"" +
                                                                 (on.contains(v.def->shown_if) ? "" : " hidden");
          if (v.def->block != block) {
            block = v.def->block;
            if (!block.empty()) body += "<h3" + when + ">" + escape_html(block) + "</h3>";
          }
          body += "<div class=\"field\"" + when + ">" +
                  (v.def->compute ? copy_field(*v.def, v.value) : field_input(records::setting_field(*v.def), v.value)) +
                  "</div>";
          if (v.def->name == mail::kCustomServersSetting && on.contains(v.def->name)) {
            body +=
                "<p><a href=\"/web/list/ir.mail_server\">Outgoing Email Servers</a> | <a href=\"/web/list/"
                "fetchmail.server\">Incoming Email Servers</a></p>";
          }
        }
        body += "</section>";
      }
      body += "<p><button type=\"submit\">Save</button></p></form>" + std::string(kRevealScript);
      return html(s, "General Settings", body);
    });
  }

  Response settings_save(const Request& req) {
    auto who = app_.require_admin(req);
    if (auto* r = std::get_if<Response>(&who)) return *r;
    const auto& s = std::get<http::Session>(who);
    if (!csrf_ok(req, s)) return csrf_refused();
    try {
      auto lock = host_.db().lock();
      auto env = host_.env();
      Transaction tr(host_.db().session());
      for (const auto& def : env.registry.settings()) {
        if (def.compute) continue;  // shown, never stored
        if (def.type == records::FieldType::boolean) {
          if (req.form_param("__present_" + def.name))
            records::setting_set(env, def.name, req.form_param(def.name) ? "true" : "false");
          continue;
        }
        const auto p = req.form_param(def.name);
        if (!p || (def.secret && p->empty())) continue;
        records::setting_set(env, def.name, *p);
      }
      tr.commit();
    } catch (const std::exception& e) {
      return settings(req, failure_text(e, "the settings"), true);
    }
    return settings(req, "Settings saved.", false);
  }

  Response list(const Request& req) {
    return admin(req, [&](const http::Session& s) {
      auto lock = host_.db().lock();
      auto env = host_.env();
      const std::string model = req.path.substr(std::string("/web/list/").size());
      const auto& t = env.registry.type(model);
      const auto cols = list_columns(t);
      std::string body = banner(req.query_param("message").value_or(""), false) +
                         (t.creatable ? "<p><a href=\"/web/record/" + escape_html(model) + "/new\">New</a></p>" : "") +
                         "<table><thead><tr><th>ID</th>";
      for (const auto* c : cols) body += "<th>" + escape_html(c->label) + "</th>";
      body += "</tr></thead><tbody>";
      // One page at a time: a list of 100 000 mails reads 100 of them, not all with their bodies.
      const std::size_t page = page_number(req);
      auto ids = records::search(env, model, json::object(), kListPage + 1, (page - 1) * kListPage);
      const bool more = ids.size() > kListPage;
      if (more) ids.pop_back();
      // Only the listed columns (not a mail's bodies), and each related record's link once a page.
      std::vector<std::string> names;
      for (const auto* c : cols) names.push_back(c->name);
      std::map<std::pair<std::string, std::string>, std::string> links;
      for (const auto id : ids) {
        const json rec = records::read_fields(env, model, id, names);
        body +=
            "<tr><td><a href=\"/web/record/" + escape_html(model) + "/" + str(rec["id"]) + "\">" + str(rec["id"]) + "</a></td>";
        for (const auto* c : cols) {
          const json v = rec.value(c->name, json());
          if (c->type != records::FieldType::many2one) {
            body += "<td>" + (c->type == records::FieldType::datetime ? time_html(v) : escape_html(cell(*c, v))) + "</td>";
            continue;
          }
          auto [it, fresh] = links.try_emplace({c->relation, v.dump()});
          if (fresh) it->second = relation_link(env, *c, v);
          body += "<td>" + it->second + "</td>";
        }
        body += "</tr>";
      }
      body += "</tbody></table>" + pager("/web/list/" + model, page, more);
      return html(s, t.label, body);
    });
  }

  // /web/record/<model>/<id|new>[/action/<name>|/delete]
  Response record(const Request& req) {
    return admin(req, [&](const http::Session& s) {
      const std::string rest = req.path.substr(std::string("/web/record/").size());
      const auto slash = rest.find('/');
      if (slash == std::string::npos) return Response::html(404, message_page("Not found", "No such page.", "/web"));
      const std::string model = rest.substr(0, slash);
      std::string tail = rest.substr(slash + 1);
      std::string sub;
      if (const auto p = tail.find('/'); p != std::string::npos) {
        sub = tail.substr(p + 1);
        tail = tail.substr(0, p);
      }
      auto lock = host_.db().lock();
      auto env = host_.env(records::User{s.user_id, s.login, s.is_admin});
      const auto& t = env.registry.type(model);
      const bool is_new = tail == "new";
      std::int64_t id = 0;
      if (!is_new) {
        try {
          id = std::stoll(tail);
        } catch (const std::exception&) {
          return Response::html(404, message_page("Not found", "No such record.", "/web"));
        }
      }
      if (is_new && !t.creatable) {
        return Response::html(
            404, message_page("Not found", t.label + " are not written here: Compose writes mails, a fetch stores messages.",
                              "/web/list/" + model));
      }
      if (req.method == "GET" && sub == "delete" && !is_new) return confirm_record_delete(env, s, t, id);
      if (req.method == "GET" && sub == "html" && model == mail::kMessage && !is_new) return message_html(env, id);
      if (req.method == "GET") {
        const json rec = is_new ? defaults_of(t) : records::read(env, model, id);
        if (const auto f = is_new ? std::nullopt : app_.follow_ups().take(model, id)) return follow_up_page(env, s, t, rec, *f);
        return html(s, t.label, record_form(env, s, t, rec, req.query_param("message").value_or(""), false));
      }
      if (!csrf_ok(req, s)) return csrf_refused();
      if (sub.starts_with("action/")) return run_action(env, s, t, id, sub.substr(7));
      if (sub == "delete") {
        Transaction tr(host_.db().session());
        records::remove(env, model, id);
        tr.commit();
        return Response::redirect("/web/list/" + model + "?message=" + http::url_encode("Deleted."));
      }
      const json values = form_values(t, req, is_new ? defaults_of(t) : records::read(env, model, id));
      try {
        Transaction tr(host_.db().session());
        if (is_new) {
          id = records::create(env, model, values);
        } else {
          records::write(env, model, id, values);
        }
        tr.commit();
      } catch (const std::exception& e) {
        // The refusal next to the form, with what was typed kept (secrets excepted).
        const std::string why = failure_text(e, t.label + " record" + (is_new ? "" : " " + std::to_string(id)));
        json rec = is_new ? defaults_of(t) : records::read(env, model, id);
        for (const auto& [k, v] : values.items()) rec[k] = v;
        for (const auto& f : t.fields) {
          if (f.is_secret()) rec[f.name] = nullptr;
        }
        const bool refused = dynamic_cast<const UserError*>(&e) != nullptr;
        return html(s, t.label, record_form(env, s, t, rec, why, true), refused ? 400 : 500);
      }
      return Response::redirect("/web/record/" + model + "/" + std::to_string(id) + "?message=" + http::url_encode("Saved."));
    });
  }

  // A message's HTML as it came, for the sandboxed frame of its page. The browser enforces what
  // a hand-written sanitiser could miss: no script runs, and nothing is loaded from elsewhere
  // (a remote image would tell the sender the mail was read).
  Response message_html(records::Env& env, std::int64_t id) {
    const json rec = records::read(env, mail::kMessage, id);
    Response r = Response::html(200, str(rec.value("body_html", json())));
    r.set_header("Content-Security-Policy", "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:");
    r.set_header("X-Frame-Options", "SAMEORIGIN");  // its own page frames it
    return r;
  }

  Response confirm_record_delete(records::Env& env, const http::Session& s, const records::RecordType& t, std::int64_t id) {
    const json rec = records::read(env, t.name, id);
    const std::string base = "/web/record/" + t.name + "/" + std::to_string(id);
    const std::string what = singular(t.label) + " \u201c" + record_title(rec) + "\u201d";
    return html(s, "Delete " + singular(t.label), confirm_delete_form(s, what, base + "/delete", "", base));
  }

  // While a follow-up runs: its first answer (what to do), and the page asks to be reloaded;
  // then its outcome, once.
  Response follow_up_page(records::Env& env, const http::Session& s, const records::RecordType& t, const json& rec,
                          const FollowUps::View& v) {
    const bool failed = app::is_failure(v.answer);
    const std::string said = app::sentence(v.answer, "Done.");
    Response r =
        html(s, t.label, record_form(env, s, t, rec, v.pending ? said + " (This page follows the outcome.)" : said, failed), 200);
    if (v.pending) r.set_header("Refresh", "3");
    return r;
  }

  Response run_action(records::Env& env, const http::Session& s, const records::RecordType& t, std::int64_t id,
                      const std::string& name) {
    const auto* a = env.registry.action(t.name, name);
    if (a == nullptr) return Response::html(404, message_page("Not found", "No such action.", "/web"));
    std::string message;
    bool error = false;
    try {
      std::optional<Transaction> tr;
      if (!a->own_transactions) tr.emplace(host_.db().session());
      const json result = a->invoke(env, id);
      if (tr) tr->commit();
      if (result.contains("url")) return Response::redirect(str(result["url"]), 303);
      if (const auto f = app::follow_up_of(env.registry, t.name, result, std::chrono::system_clock::now())) {
        if (!app_.follow_ups().start(env.user, t.name, id, *f, app::shown(result))) {
          throw UserError("Too many actions are waiting for an outcome on this server: try again in a few minutes.");
        }
        return Response::redirect("/web/record/" + t.name + "/" + std::to_string(id), 303);
      }
      message = app::sentence(result, a->label + ": done.");
      if (t.name == mail::kMail) app_.mail_queued();
    } catch (const std::exception& e) {
      message = e.what();
      error = true;
    }
    const json rec = records::read(env, t.name, id);
    return html(s, t.label, record_form(env, s, t, rec, message, error), error ? 400 : 200);
  }

  Response params(const Request& req, const std::string& message = "", bool error = false) {
    return admin(req, [&](const http::Session& s) {
      auto lock = host_.db().lock();
      auto env = host_.env();
      std::string body = banner(message, error) + "<table><thead><tr><th>Key</th><th>Value</th><th></th></tr></thead><tbody>";
      for (const auto& p : records::param_list(env)) {
        // Delete is a GET to the confirmation page; protected keys have none.
        const std::string del = protected_param(p.key)
                                    ? "<small>protected</small>"
                                    : "<form method=\"get\" action=\"/web/params/delete\"><input type=\"hidden\" name=\"key\" "
                                      "value=\"" +
                                          escape_html(p.key) + "\"><button type=\"submit\">Delete</button></form>";
        body += "<tr><td>" + escape_html(p.key) + "</td><td>" + escape_html(p.secret ? "(secret, set)" : *p.value) + "</td><td>" +
                del + "</td></tr>";
      }
      body += "</tbody></table><h2>Set a parameter</h2><form method=\"post\" action=\"/web/params\">" + csrf_input(s) +
              "<label for=\"param_key\">Key</label><input id=\"param_key\" name=\"key\" required><label for=\"param_value\">"
              "Value</label><input id=\"param_value\" name=\"value\"><p><button type=\"submit\">Save</button></p></form>";
      return html(s, "System Parameters", body);
    });
  }

  Response confirm_param_delete(const Request& req) {
    return admin(req, [&](const http::Session& s) {
      const std::string key = req.query_param("key").value_or("");
      if (protected_param(key)) return param_protected(s, key);
      const std::string hidden = "<input type=\"hidden\" name=\"key\" value=\"" + escape_html(key) + "\">";
      return html(
          s, "Delete System Parameter",
          confirm_delete_form(s, "system parameter \u201c" + key + "\u201d", "/web/params/delete", hidden, "/web/params"));
    });
  }

  Response params_change(const Request& req, bool remove) {
    auto who = app_.require_admin(req);
    if (auto* r = std::get_if<Response>(&who)) return *r;
    const auto& s = std::get<http::Session>(who);
    if (!csrf_ok(req, s)) return csrf_refused();
    const std::string key = req.form_param("key").value_or("");
    if (protected_param(key)) return param_protected(s, key);  // overwriting it loses the secrets as well
    try {
      auto lock = host_.db().lock();
      auto env = host_.env();
      if (remove) {
        records::param_unset(env, key);
      } else {
        if (key.empty() || key.find_first_of(" \r\n\t") != std::string::npos) throw UserError("a parameter key has no spaces");
        records::param_set(env, key, req.form_param("value").value_or(""));
      }
    } catch (const std::exception& e) {
      return params(req, failure_text(e, "the system parameter " + key), true);
    }
    return params(req, remove ? "Deleted " + key + "." : "Saved " + key + ".", false);
  }

  Response compose(const Request& req, const std::string& message = "", bool error = false, int status = 200) {
    return admin(req, [&](const http::Session& s) {
      auto v = [&](const char* k) { return escape_html(req.form_param(k).value_or("")); };
      const std::string body =
          banner(message, error) + "<form method=\"post\" action=\"/web/compose\">" + csrf_input(s) +
          "<label for=\"c_from\">From</label><input id=\"c_from\" name=\"from\" value=\"" + v("from") + "\" required>" +
          "<label for=\"c_to\">To</label><input id=\"c_to\" name=\"to\" value=\"" + v("to") + "\" required>" +
          "<label for=\"c_subject\">Subject</label><input id=\"c_subject\" name=\"subject\" value=\"" + v("subject") + "\">" +
          "<label for=\"c_body\">Body</label><textarea id=\"c_body\" name=\"body\" rows=\"8\">" + v("body") + "</textarea>" +
          "<p><button type=\"submit\">Send</button></p></form>";
      return html(s, "Compose", body, status);
    });
  }

  Response compose_send(const Request& req) {
    auto who = app_.require_admin(req);
    if (auto* r = std::get_if<Response>(&who)) return *r;
    const auto& s = std::get<http::Session>(who);
    if (!csrf_ok(req, s)) return csrf_refused();
    std::int64_t id = 0;
    try {
      auto lock = host_.db().lock();
      auto env = host_.env();
      mail::Draft d;
      d.email_from = req.form_param("from").value_or("");
      d.email_to = req.form_param("to").value_or("");
      d.subject = req.form_param("subject").value_or("");
      d.body_text = req.form_param("body").value_or("");
      Transaction tr(host_.db().session());
      id = mail::enqueue(env, d);
      tr.commit();
    } catch (const std::exception& e) {
      return compose(req, failure_text(e, "the mail"), true, dynamic_cast<const UserError*>(&e) != nullptr ? 400 : 500);
    }
    app_.mail_queued();
    return Response::redirect("/web/record/mail.mail/" + std::to_string(id) +
                              "?message=" + http::url_encode("Queued; it is sent at the next queue run (a few seconds)."));
  }

 private:
  WebApp& app_;
  Host& host_;
};

}  // namespace

void add_admin_pages(http::Router& router, WebApp& app) {
  auto p = std::make_shared<Pages>(app);
  router.add("GET", "/web", [p](const Request& q) { return p->home(q); });
  router.add("GET", "/web/apps", [p](const Request& q) { return p->apps(q); });
  router.add("POST", "/web/apps/install", [p](const Request& q) { return p->apps_change(q, true); });
  router.add("POST", "/web/apps/uninstall", [p](const Request& q) { return p->apps_change(q, false); });
  router.add("GET", "/web/settings", [p](const Request& q) { return p->settings(q); });
  router.add("POST", "/web/settings", [p](const Request& q) { return p->settings_save(q); });
  router.add_prefix("GET", "/web/list/", [p](const Request& q) { return p->list(q); });
  router.add_prefix("GET", "/web/record/", [p](const Request& q) { return p->record(q); });
  router.add_prefix("POST", "/web/record/", [p](const Request& q) { return p->record(q); });
  router.add("GET", "/web/params", [p](const Request& q) { return p->params(q); });
  router.add("POST", "/web/params", [p](const Request& q) { return p->params_change(q, false); });
  router.add("GET", "/web/params/delete", [p](const Request& q) { return p->confirm_param_delete(q); });
  router.add("POST", "/web/params/delete", [p](const Request& q) { return p->params_change(q, true); });
  router.add("GET", "/web/compose", [p](const Request& q) { return p->compose(q); });
  router.add("POST", "/web/compose", [p](const Request& q) { return p->compose_send(q); });
}

}  // namespace juniper::web
