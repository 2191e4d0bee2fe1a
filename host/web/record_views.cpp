#include "web/record_views.hpp"

#include "mail/records.hpp"
#include "records/record_service.hpp"
#include "records/settings.hpp"

#include <algorithm>

namespace juniper::web {

using json = nlohmann::json;

std::string str(const json& v) {
  if (v.is_null()) return "";
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

std::string singular(std::string label) {
  if (label.size() > 1 && label.back() == 's') label.pop_back();
  return label;
}

std::string record_title(const json& rec) {
  for (const char* k : {"name", "subject"}) {
    if (rec.contains(k) && !str(rec[k]).empty()) return str(rec[k]);
  }
  return "#" + str(rec.value("id", json()));
}

json banner(const std::string& message, bool error) {
  if (message.empty()) return nullptr;
  return {{"tone", error ? "error" : "ok"}, {"role", error ? "alert" : "status"}, {"text", message}};
}

namespace {

// What a list or an output shows for a value: a selection's label, not its stored value.
std::string display(const records::FieldDef& f, const json& value) {
  const std::string v = str(value);
  for (const auto& c : f.choices) {
    if (c.value == v) return c.label;
  }
  return v;
}

// A shown value (template "value"): exactly one of time, link and text.
json shown_value(json time, json link, std::string text) {
  return {{"time", std::move(time)}, {"link", std::move(link)}, {"text", std::move(text)}};
}

// A date and time as people read it: "2026-12-02 23:58 UTC" in the page, turned into the
// reader's own time zone by the page's script (the exact ISO value stays in `datetime`).
json time_value(const json& value) {
  const std::string v = str(value);
  if (v.size() < 16 || v[4] != '-' || v[7] != '-' || (v[10] != 'T' && v[10] != ' ') || v[13] != ':')
    return shown_value(nullptr, nullptr, v);
  const std::size_t offset = v.find_first_of("+-Z", 16);  // "+02:00", "Z"; none: UTC, as the host writes
  const std::string zone = offset == std::string::npos || v[offset] == 'Z' ? "UTC" : v.substr(offset);
  // The machine-readable value always carries its zone, so the script never takes it for local time.
  const std::string exact = v.substr(0, 10) + "T" + v.substr(11) + (offset == std::string::npos ? "Z" : "");
  return shown_value({{"datetime", exact}, {"text", v.substr(0, 10) + " " + v.substr(11, 5) + " " + zone}}, nullptr, "");
}

// A field declared shown_if "field=value" appears only on records where that holds (a module's
// fields on the records of its own kind).
bool shown(const records::FieldDef& f, const json& rec) {
  if (f.shown_if.empty()) return true;
  const auto eq = f.shown_if.find('=');
  return str(rec.value(f.shown_if.substr(0, eq), json())) == f.shown_if.substr(eq + 1);
}

// The records a many-to-one field may point at, by title, for its select; empty when there are
// too many to list (then a number box).
constexpr std::size_t kMaxChoices = 500;
std::vector<std::pair<std::int64_t, std::string>> relation_choices(records::Env& env, const records::FieldDef& f) {
  std::vector<std::pair<std::int64_t, std::string>> out;
  const auto ids = records::search(env, f.relation, json::object(), kMaxChoices + 1, 0);
  if (ids.size() > kMaxChoices) return out;
  for (const auto id : ids) out.emplace_back(id, record_title(records::read(env, f.relation, id)));
  return out;
}

// A many-to-one value as the related record's title, linked (nothing when none; the id when gone).
json relation_value(records::Env& env, const records::FieldDef& f, const json& value) {
  if (!value.is_number_integer()) return shown_value(nullptr, nullptr, "");
  const std::int64_t id = value.get<std::int64_t>();
  try {
    const std::string title = record_title(records::read(env, f.relation, id));
    return shown_value(nullptr, {{"href", "/web/record/" + f.relation + "/" + std::to_string(id)}, {"text", title}}, "");
  } catch (const std::exception&) {
    return shown_value(nullptr, nullptr, "#" + std::to_string(id));  // deleted since
  }
}

bool is_badge(const records::FieldDef& f) { return f.type == records::FieldType::selection && f.badge; }

// Coloured by the tone the module gave the value: the host does not know what a status means.
json badge(const records::FieldDef& f, const json& value) {
  const std::string v = str(value);
  const auto it = std::find_if(f.choices.begin(), f.choices.end(), [&](const records::Choice& c) { return c.value == v; });
  const std::string tone = it == f.choices.end() || it->tone.empty() ? "muted" : it->tone;
  return {{"tone", tone}, {"field", f.name}, {"label", display(f, value)}};
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

// Every key of the "field" template, so that a missing one is never looked up in the page around it.
json blank_field(const std::string& name, const std::string& label, const std::string& help) {
  json m = shown_value(nullptr, nullptr, "");
  m.update({{"id", "f_" + name},
            {"name", name},
            {"label", label},
            {"help", help},
            {"output", false},
            {"checkbox", false},
            {"checked", false},
            {"checkbox_value", ""},
            {"select", false},
            {"blank_option", false},
            {"options", json::array()},
            {"textarea", false},
            {"password", false},
            {"placeholder", ""},
            {"number", false},
            {"input", false},
            {"copy", false},
            {"value", ""}});
  return m;
}

json options_of(const records::FieldDef& f, const json& value) {
  json out = json::array();
  for (const auto& c : f.choices) out.push_back({{"value", c.value}, {"label", c.label}, {"selected", str(value) == c.value}});
  return out;
}

// A many-to-one field: the related record's title (a link) when read-only, else a select of the
// records it may point at (a number box when there are too many to list).
json relation_field(records::Env& env, const records::FieldDef& f, const json& value) {
  json m = blank_field(f.name, f.label, f.help);
  if (f.readonly) {
    m.update(relation_value(env, f, value));
    m["output"] = true;
    return m;
  }
  const auto choices = relation_choices(env, f);
  if (choices.empty() && records::search(env, f.relation, json::object(), 1, 0).size() == 1) return field_model(f, value);
  m["select"] = true;
  m["blank_option"] = true;
  for (const auto& [rid, title] : choices) {
    const bool selected = value.is_number_integer() && value.get<std::int64_t>() == rid;
    m["options"].push_back({{"value", std::to_string(rid)}, {"label", title}, {"selected", selected}});
  }
  return m;
}

}  // namespace

json field_model(const records::FieldDef& f, const json& value, const records::RecordType* type) {
  json m = blank_field(f.name, f.label, f.help);
  if (f.readonly) {
    m.update(f.type == records::FieldType::datetime ? time_value(value) : shown_value(nullptr, nullptr, display(f, value)));
    m["output"] = true;
    return m;
  }
  if (const auto* cb = checkbox_of(type, f)) {
    const std::string& v = cb->values.front();
    m.update({{"checkbox", true}, {"label", cb->checkbox_label}, {"checkbox_value", v}, {"checked", str(value) == v}});
    return m;
  }
  switch (f.type) {
    case records::FieldType::boolean:
      m.update({{"checkbox", true}, {"checkbox_value", "1"}, {"checked", value.is_boolean() && value.get<bool>()}});
      break;
    case records::FieldType::selection:
      m.update({{"select", true}, {"options", options_of(f, value)}});
      break;
    case records::FieldType::text:
      m.update({{"textarea", true}, {"value", str(value)}});
      break;
    case records::FieldType::secret:
      // Never sent back to the browser: empty keeps the stored value.
      m.update({{"password", true}, {"placeholder", str(value) == "set" ? "(set; leave empty to keep)" : ""}});
      break;
    case records::FieldType::integer:
    case records::FieldType::many2one:
      m.update({{"number", true}, {"value", str(value)}});
      break;
    default:
      m.update({{"input", true}, {"value", str(value)}});
  }
  return m;
}

json copy_field_model(const records::SettingDef& d, const json& value) {
  json m = blank_field(d.name, d.label, d.help);
  m.update({{"copy", true}, {"value", str(value)}});
  return m;
}

json form_values(const records::RecordType& t, const http::Request& req, const json& before) {
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

namespace {

json named(std::string name, json value) {
  value["name"] = std::move(name);
  return value;
}

// An incoming message read as a message: who, when, what about, its text, its HTML in a
// sandboxed frame (/html: no script runs, nothing is fetched from elsewhere), its attachments.
json message_model(const json& rec, bool remote_content) {
  json headers = json::array();
  for (const auto& [key, label] :
       {std::pair{"email_from", "From"}, {"email_to", "To"}, {"email_cc", "Cc"}, {"subject", "Subject"}}) {
    const std::string v = str(rec.value(key, json()));
    if (!v.empty()) headers.push_back(named(label, shown_value(nullptr, nullptr, v)));
  }
  if (!str(rec.value("date", json())).empty()) headers.push_back(named("Date", time_value(rec["date"])));
  json atts = json::array();
  try {
    if (!str(rec.value("attachments", json())).empty()) atts = json::parse(str(rec["attachments"]));
  } catch (const json::exception&) {
  }
  const std::string base = "/web/record/" + std::string(mail::kMessage) + "/" + str(rec["id"]);
  json shown_atts = json::array();
  bool all_stored = true;
  for (std::size_t i = 0; atts.is_array() && i < atts.size(); ++i) {
    const json& a = atts[i];
    if (!a.is_object()) continue;
    const bool stored = a.value("stored", false);
    all_stored = all_stored && stored;
    shown_atts.push_back({{"filename", a.value("filename", std::string("(no name)"))},
                          {"content_type", a.value("content_type", std::string("?"))},
                          {"kb", std::to_string((a.value("size", std::size_t{0}) + 1023) / 1024)},
                          {"href", stored ? base + "/attachment/" + std::to_string(i) : ""}});
  }
  const std::string html = str(rec.value("body_html", json()));
  // Images from elsewhere, blocked until asked for: a rough look for an address is enough to
  // offer the button (the frame's policy does the blocking).
  const bool remote = html.find("http://") != std::string::npos || html.find("https://") != std::string::npos ||
                      html.find("src=\"//") != std::string::npos;
  return {
      {"headers", headers},
      {"body_text", str(rec.value("body_text", json()))},
      {"html_src", html.empty() ? "" : base + "/html" + (remote_content ? "?remote=1" : "")},
      {"remote", remote && !html.empty() ? json{{"shown", remote_content}, {"show_href", base + "?remote=1"}, {"hide_href", base}}
                                         : json(nullptr)},
      {"attachments", shown_atts},
      {"has_attachments", !shown_atts.empty()},
      {"all_stored", all_stored}};
}

// The section a field is shown in (FieldDef::group); a module's field on a type it extends: the
// module's display name (from `modules`, name -> display name).
std::string section_of(const records::FieldDef& f, const records::RecordType& t,
                       const std::map<std::string, std::string>& modules) {
  if (!f.group.empty()) return f.group;
  if (f.owner.empty() || f.owner == t.owner) return "";
  const auto it = modules.find(f.owner);
  return it != modules.end() && !it->second.empty() ? it->second : f.owner;
}

// The header bar: the actions that apply to this record, then Delete (a GET to its confirmation).
json header_bar(records::Env& env, const records::RecordType& t, const json& rec, const std::string& base) {
  json actions = json::array();
  for (const auto& a : env.registry.actions()) {
    if (a.model != t.name) continue;
    if (a.hidden || (a.visible && !a.visible(env, rec))) continue;
    actions.push_back({{"action", base + "/action/" + a.name}, {"label", a.label}});
  }
  return {{"actions", actions}, {"delete_href", base + "/delete"}};
}

// Each field in its section: the ungrouped ones first, then the sections in the order they are
// first declared; a module's fields on a type it extends under the module's name.
json sections(records::Env& env, const records::RecordType& t, const json& rec, bool is_new, bool message_read,
              const std::map<std::string, std::string>& modules) {
  std::vector<std::string> order{""};
  std::map<std::string, json> fields;
  for (const auto& f : t.fields) {
    if (f.hidden || (is_badge(f) && !is_new) || !shown(f, rec)) continue;
    if (message_read && (f.name == "body_text" || f.name == "body_html" || f.name == "attachments")) continue;  // shown above
    if (f.readonly && is_new) continue;
    const json value = rec.value(f.name, json());
    if (f.readonly && (value.is_null() || str(value).empty())) continue;  // no empty labels ("Last Error")
    const std::string group = section_of(f, t, modules);
    if (std::find(order.begin(), order.end(), group) == order.end()) order.push_back(group);
    fields[group].push_back(f.type == records::FieldType::many2one ? relation_field(env, f, value) : field_model(f, value, &t));
  }
  json out = json::array();
  for (const auto& g : order) {
    if (fields.contains(g)) out.push_back({{"legend", g}, {"fields", fields[g]}});
  }
  return out;
}

}  // namespace

json record_model(records::Env& env, const records::RecordType& t, const json& rec, const std::string& message, bool error,
                  const std::map<std::string, std::string>& modules, bool remote_content) {
  const bool is_new = !rec.contains("id") || rec["id"].is_null();
  const std::string base = "/web/record/" + t.name + "/" + (is_new ? std::string("new") : str(rec["id"]));
  json badges = json::array();
  for (const auto& f : t.fields) {
    if (is_badge(f) && !is_new && shown(f, rec)) badges.push_back(badge(f, rec.value(f.name, json())));
  }
  const bool message_read = t.name == mail::kMessage && !is_new;
  return {{"list_href", "/web/list/" + t.name},
          {"type_label", t.label},
          {"heading", is_new ? "New " + singular(t.label) : record_title(rec)},
          {"banner", banner(message, error)},
          {"badges", badges},
          {"header_bar", is_new ? json(nullptr) : header_bar(env, t, rec, base)},
          {"message", message_read ? message_model(rec, remote_content) : json(nullptr)},
          {"action", base},
          {"sections", sections(env, t, rec, is_new, message_read, modules)}};
}

namespace {

constexpr std::size_t kListPage = 100;  // rows per list page

std::size_t page_number(const http::Request& req) {
  const std::string p = req.query_param("page").value_or("1");
  if (p.empty() || p.size() > 6 || !std::all_of(p.begin(), p.end(), [](char c) { return c >= '0' && c <= '9'; })) return 1;
  return std::max<std::size_t>(1, std::stoul(p));
}

// What a list page shows: its search text, sort and page, read from the query string. Only a
// listed column (or the id) sorts; anything else falls back to the type's order.
struct ListView {
  std::string text;
  std::string sort;  // "" = the type's order
  bool descending = false;
  std::size_t page = 1;

  // The query string for this view with `page` (and optionally another sort): "?q=..&sort=..".
  std::string href(const std::string& base, std::size_t to_page, const std::string* sort_by = nullptr, bool desc = false) const {
    std::string q;
    const auto add = [&](const std::string& k, const std::string& v) {
      q += (q.empty() ? "?" : "&") + k + "=" + http::url_encode(v);
    };
    if (!text.empty()) add("q", text);
    const std::string& by = sort_by ? *sort_by : sort;
    if (!by.empty()) {
      add("sort", by);
      if (sort_by ? desc : descending) add("dir", "desc");
    }
    if (to_page > 1) add("page", std::to_string(to_page));
    return base + q;
  }
};

ListView list_view(const http::Request& req, const std::vector<const records::FieldDef*>& cols) {
  ListView v;
  v.page = page_number(req);
  v.text = req.query_param("q").value_or("");
  if (v.text.size() > 200) v.text.resize(200);  // a search box, not a payload
  const std::string sort = req.query_param("sort").value_or("");
  const bool listed = sort == "id" || std::any_of(cols.begin(), cols.end(), [&](const auto* c) { return c->name == sort; });
  if (listed) {
    v.sort = sort;
    v.descending = req.query_param("dir").value_or("") == "desc";
  }
  return v;
}

// "Previous | Page N | Next" under a list; links only where there is a page to go to.
json pager(const std::string& base, const ListView& v, bool more) {
  if (v.page == 1 && !more) return nullptr;
  return {{"previous", v.page > 1 ? v.href(base, v.page - 1) : ""},
          {"page", std::to_string(v.page)},
          {"next", more ? v.href(base, v.page + 1) : ""}};
}

// A column heading that sorts by it: ascending first, then the other way; aria-sort says which.
json sort_heading(const std::string& base, const ListView& v, const std::string& field, const std::string& label) {
  const bool current = v.sort == field;
  return {{"href", v.href(base, 1, &field, current && !v.descending)},
          {"label", label},
          {"aria_sort", !current       ? ""
                        : v.descending ? "descending"
                                       : "ascending"},
          {"ascending", current && !v.descending},
          {"descending", current && v.descending}};
}

// The columns a search looks in: the listed texts and choices (not numbers, dates or links).
std::vector<std::string> searchable(const std::vector<const records::FieldDef*>& cols) {
  std::vector<std::string> out;
  for (const auto* c : cols) {
    if (c->type == records::FieldType::chars || c->type == records::FieldType::text || c->type == records::FieldType::selection)
      out.push_back(c->name);
  }
  return out;
}

// A list cell: long texts (a failure reason) cut to a line's worth, never inside a UTF-8 character.
std::string cell_text(const records::FieldDef& f, const json& value) {
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
    if (f.hidden || f.unlisted || f.type == records::FieldType::secret) continue;
    if (f.listed || is_badge(f) || (cols.size() < 6 && f.type != records::FieldType::text)) cols.push_back(&f);
  }
  return cols;
}

json search_box(const std::string& base, const ListView& view) {
  return {{"action", base},
          {"text", view.text},
          {"sort", view.sort},
          {"descending", view.descending},
          {"clear_href", view.text.empty() ? "" : ListView{"", view.sort, view.descending, 1}.href(base, 1)}};
}

// One page of rows: only the listed columns (not a mail's bodies), each related record's link
// read once a page.
json rows(records::Env& env, const records::RecordType& t, const std::vector<const records::FieldDef*>& cols,
          const std::vector<std::int64_t>& ids) {
  std::vector<std::string> names;
  for (const auto* c : cols) names.push_back(c->name);
  std::map<std::pair<std::string, std::string>, json> links;
  json out = json::array();
  for (const auto id : ids) {
    const json rec = records::read_fields(env, t.name, id, names);
    const std::string href = "/web/record/" + t.name + "/" + str(rec["id"]);
    json cells = json::array();
    for (const auto* c : cols) {
      const json v = rec.value(c->name, json());
      if (c->type == records::FieldType::many2one) {
        auto [it, fresh] = links.try_emplace({c->relation, v.dump()});
        if (fresh) it->second = relation_value(env, *c, v);
        cells.push_back(it->second);
      } else if (c->type == records::FieldType::datetime) {
        cells.push_back(time_value(v));
      } else if ((c->name == "name" || c->name == "subject") && !str(v).empty()) {
        cells.push_back(shown_value(nullptr, {{"href", href}, {"text", cell_text(*c, v)}}, ""));  // the record's name opens it
      } else {
        cells.push_back(shown_value(nullptr, nullptr, cell_text(*c, v)));
      }
    }
    out.push_back({{"href", href}, {"id", str(rec["id"])}, {"cells", cells}});
  }
  return out;
}

}  // namespace

json list_model(records::Env& env, const records::RecordType& t, const http::Request& req) {
  const auto cols = list_columns(t);
  const std::string base = "/web/list/" + t.name;
  const ListView view = list_view(req, cols);
  const auto fields = searchable(cols);
  json headings = json::array({sort_heading(base, view, "id", "ID")});
  for (const auto* c : cols) headings.push_back(sort_heading(base, view, c->name, c->label));
  // One page at a time: a list of 100 000 mails reads 100 of them, not all with their bodies;
  // the search and the sort are the database's.
  const records::PageQuery query{view.text, fields, view.sort, view.descending};
  auto ids = records::search_page(env, t.name, query, kListPage + 1, (view.page - 1) * kListPage);
  const bool more = ids.size() > kListPage;
  if (more) ids.pop_back();
  return {{"banner", banner(req.query_param("message").value_or(""), false)},
          {"new_href", t.creatable ? "/web/record/" + t.name + "/new" : ""},
          {"search", fields.empty() ? json(nullptr) : search_box(base, view)},
          {"headings", headings},
          {"columns", std::to_string(cols.size() + 1)},
          {"nothing", ids.empty() ? view.text : ""},
          {"rows", rows(env, t, cols, ids)},
          {"pager", pager(base, view, more)}};
}

}  // namespace juniper::web
