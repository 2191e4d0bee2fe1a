#include "web/admin_pages.hpp"

#include "app/alerts.hpp"
#include "core/crypto.hpp"
#include "core/errors.hpp"
#include "core/log.hpp"
#include "mail/attachment_store.hpp"
#include "mail/queue.hpp"
#include "mail/records.hpp"
#include "records/params.hpp"
#include "records/record_service.hpp"
#include "records/settings.hpp"
#include "web/form.hpp"
#include "web/origin.hpp"
#include "web/pages.hpp"
#include "web/record_views.hpp"
#include "web/view.hpp"
#include "web/web_app.hpp"

#include <algorithm>
#include <iterator>
#include <map>
#include <set>
#include <string_view>

namespace juniper::web {
namespace {

using http::Request;
using http::Response;
using json = nlohmann::json;

bool csrf_ok(const Request& req, const http::Session& s) {
  return http::SessionStore::check_csrf(s, req.form_param("csrf_token").value_or(""));
}

Response csrf_refused() {
  return Response::html(403, message_page("Access denied",
                                          "The form's security token is missing or wrong. Reload the page "
                                          "and try again.",
                                          "/web"));
}

// Where admin() puts the warnings every admin page shows (template admin_top; the pages
// themselves need no database for them).
constexpr std::string_view kWarningsSlot = "<!--juniper-warnings-->";

// What every admin page's frame needs (template admin_top): its title, the session's login and
// CSRF token (the Log out form).
json frame(const http::Session& s, const std::string& title) {
  return {{"title", title}, {"login", s.login}, {"csrf", s.csrf_token}};
}

Response page(const http::Session& s, const std::string& title, std::string_view tmpl, json model, int status = 200) {
  model.update(frame(s, title));
  return Response::html(status, render(tmpl, model));
}

// A page saying one thing (a refusal, a failure), with links onwards.
Response notice(const http::Session& s, const std::string& title, const std::string& message, bool error, int status,
                json links = json::array()) {
  return page(s, title, "admin_message", {{"banner", banner(message, error)}, {"links", std::move(links)}}, status);
}

// ---- confirmations of destructive actions ---------------------------------------------------

// Parameters the host itself needs: deleting database.secret would make every stored secret unreadable.
bool protected_param(std::string_view key) {
  static constexpr std::string_view kProtected[] = {"database.secret"};
  return std::find(std::begin(kProtected), std::end(kProtected), key) != std::end(kProtected);
}

Response param_protected(const http::Session& s, const std::string& key) {
  return notice(s, "Refused",
                "The system parameter " + key +
                    " is protected: the host needs it, it cannot be deleted or changed here. Nothing was changed.",
                true, 403, json::array({{{"href", "/web/params"}, {"label", "Back to System Parameters"}}}));
}

// "Delete X?" with a Confirm button (a POST carrying the CSRF token and the parameter's `key`,
// if any) and a Cancel link back: plain HTML, no script.
Response confirm_delete(const http::Session& s, const std::string& title, const std::string& what, const std::string& action,
                        const std::string& key, const std::string& cancel_href) {
  return page(s, title, "confirm_delete", {{"what", what}, {"action", action}, {"key", key}, {"cancel_href", cancel_href}});
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
      } catch (const NotFoundError& e) {
        return notice(s, "Not found", e.what(), true, 404, json::array({{{"href", "/web"}, {"label", "Home"}}}));
      } catch (const UserError& e) {
        return notice(s, "Refused", e.what(), true, 400);
      } catch (const std::exception& e) {
        return notice(s, "Error", failure_text(e, "the page " + req.path), true, 500);
      }
    }();
    // Our pages only: a message's own HTML or an attachment (served sandboxed) stays as it came.
    const bool ours = !r.header("Content-Security-Policy").has_value();
    if (const auto at = ours ? r.body.find(kWarningsSlot) : std::string::npos; at != std::string::npos) {
      json shown = json::array();
      for (const auto& w : current_warnings()) {
        shown.push_back({{"key", w.key}, {"text", w.text}, {"link", !w.link.empty() && w.link.front() == '/' ? w.link : ""}});
      }
      r.body.replace(at, kWarningsSlot.size(), render("warnings", {{"warnings", shown}}));
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
    return admin(req, [&](const http::Session& s) { return page(s, "Juniper", "home", json::object()); });
  }

  Response apps(const Request& req) {
    return admin(req, [&](const http::Session& s) {
      auto lock = host_.db().lock();
      const std::string search = req.query_param("search").value_or("");
      auto lower = [](std::string x) {
        for (auto& c : x) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        return x;
      };
      json modules = json::array();
      for (const auto& m : host_.modules().list()) {
        const std::string hay = lower(m.manifest.name + " " + m.manifest.display_name + " " + m.manifest.summary);
        if (!search.empty() && hay.find(lower(search)) == std::string::npos) continue;
        modules.push_back({{"display_name", m.manifest.display_name},
                           {"name", m.manifest.name},
                           {"version", m.manifest.version},
                           {"summary", m.manifest.summary},
                           {"installed", m.state == "installed"},
                           {"problem", m.problem}});
      }
      return page(s, "Apps", "apps",
                  {{"banner", banner(req.query_param("message").value_or(""), false)}, {"search", search}, {"modules", modules}});
    });
  }

  // Loaded modules' display names by name (a form's section of a module's fields).
  std::map<std::string, std::string> module_names() { return host_.modules().display_names(); }

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
  json address_warning(records::Env& env, const Request& req) {
    const std::string base = records::param_get(env, "web.base.url").value_or("");
    const std::string configured = origin_of(base);
    const Seen here = seen(req, parse_proxies(records::param_get(env, "web.trusted_proxies").value_or("")));
    if (configured.empty() || here.origin.empty() || configured == here.origin) return nullptr;
    return {{"here", here.origin}, {"configured", configured}};
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
      std::vector<std::string> groups;
      for (const auto& v : values) {
        if (std::find(groups.begin(), groups.end(), v.def->group) == groups.end()) groups.push_back(v.def->group);
      }
      json shown_groups = json::array();
      for (const auto& g : groups) {
        // A block (a module's "Outlook Credentials") is a fieldset named by its legend, so two
        // blocks' "Client ID" fields are told apart, by screen readers too.
        json blocks = json::array();
        for (const auto& v : values) {
          if (v.def->group != g) continue;
          // Shown with the setting it depends on: present but hidden while that one is off, so
          // ticking it reveals them at once (the page's script); without a script, Save does.
          const bool hidden = !v.def->shown_if.empty() && !on.contains(v.def->shown_if);
          if (blocks.empty() || blocks.back()["block"] != v.def->block) {
            blocks.push_back(
                {{"block", v.def->block}, {"shown_if", v.def->shown_if}, {"hidden", hidden}, {"items", json::array()}});
          }
          json& b = blocks.back();
          if (b["shown_if"] != v.def->shown_if) b["shown_if"] = "";  // its fields depend on different things
          b["items"].push_back({{"shown_if", v.def->shown_if},
                                {"hidden", hidden},
                                {"field", v.def->compute ? copy_field_model(*v.def, v.value)
                                                         : field_model(records::setting_field(*v.def), v.value)},
                                {"server_links", v.def->name == mail::kCustomServersSetting && on.contains(v.def->name)}});
        }
        shown_groups.push_back({{"heading", g.empty() ? "General" : g}, {"blocks", blocks}});
      }
      return page(s, "General Settings", "settings",
                  {{"banner", banner(message, error)}, {"address_warning", address_warning(env, req)}, {"groups", shown_groups}});
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
      return page(s, t.label, "list", list_model(env, t, req));
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
      if (req.method == "GET" && model == mail::kMessage && !is_new) {
        if (sub == "html") return message_html(env, id, req.query_param("remote").value_or("") == "1");
        if (sub.starts_with("attachment/")) return message_attachment(env, id, sub.substr(std::string("attachment/").size()));
      }
      if (req.method == "GET") {
        const json rec = is_new ? defaults_of(t) : records::read(env, model, id);
        if (const auto f = is_new ? std::nullopt : app_.follow_ups().take(model, id)) return follow_up_page(env, s, t, rec, *f);
        return record_page(env, s, t, rec, req.query_param("message").value_or(""), false, 200,
                           req.query_param("remote").value_or("") == "1");
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
        return record_page(env, s, t, rec, why, true, refused ? 400 : 500);
      }
      return Response::redirect("/web/record/" + model + "/" + std::to_string(id) + "?message=" + http::url_encode("Saved."));
    });
  }

  // A message's HTML as it came, for the sandboxed frame of its page. The browser enforces what
  // a hand-written sanitiser could miss: no script runs, and nothing is loaded from elsewhere
  // (a remote image would tell the sender the mail was read) unless the reader asked for it
  // (`remote`: images from elsewhere, still no script, no form, nothing else).
  Response message_html(records::Env& env, std::int64_t id, bool remote) {
    const json rec = records::read(env, mail::kMessage, id);
    Response r = Response::html(200, str(rec.value("body_html", json())));
    r.set_header("Content-Security-Policy", std::string("sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:") +
                                                (remote ? " https: http:" : ""));
    r.set_header("X-Frame-Options", "SAMEORIGIN");  // its own page frames it
    return r;
  }

  // An attachment of a fetched message, kept by the server's Keep Attachments: always a download
  // (never shown as a page of this site: an HTML attachment would run as one), under its name.
  Response message_attachment(records::Env& env, std::int64_t id, const std::string& index_text) {
    const auto missing = [&](const std::string& why) {
      return Response::html(
          404, message_page("Not found", why, "/web/record/" + std::string(mail::kMessage) + "/" + std::to_string(id)));
    };
    if (index_text.empty() || index_text.size() > 4 ||
        !std::all_of(index_text.begin(), index_text.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return missing("No such attachment.");
    const json rec = records::read(env, mail::kMessage, id);
    const json atts = json::parse(str(rec.value("attachments", json())), nullptr, false);
    const std::size_t index = std::stoul(index_text);
    if (!atts.is_array() || index >= atts.size() || !atts[index].is_object()) return missing("No such attachment.");
    const json& a = atts[index];
    if (!a.value("stored", false)) {
      return missing(
          "This attachment was not kept: its server's Keep Attachments was off when the message was fetched. It is "
          "still in the mailbox.");
    }
    Response r;
    r.body = mail::read_attachment(env, id, static_cast<int>(index), 0, a.value("size", std::size_t{0}), mail::Owner::message);
    r.set_header("Content-Type", "application/octet-stream");
    r.set_header("Content-Disposition",
                 "attachment; filename*=UTF-8''" + http::url_encode(a.value("filename", std::string("attachment"))));
    r.set_header("X-Content-Type-Options", "nosniff");
    r.set_header("Content-Security-Policy", "sandbox; default-src 'none'");
    return r;
  }

  Response confirm_record_delete(records::Env& env, const http::Session& s, const records::RecordType& t, std::int64_t id) {
    const json rec = records::read(env, t.name, id);
    const std::string base = "/web/record/" + t.name + "/" + std::to_string(id);
    const std::string what = singular(t.label) + " \u201c" + record_title(rec) + "\u201d";
    return confirm_delete(s, "Delete " + singular(t.label), what, base + "/delete", "", base);
  }

  // While a follow-up runs: its first answer (what to do), and the page asks to be reloaded;
  // then its outcome, once.
  Response follow_up_page(records::Env& env, const http::Session& s, const records::RecordType& t, const json& rec,
                          const FollowUps::View& v) {
    const bool failed = app::is_failure(v.answer);
    const std::string said = app::sentence(v.answer, "Done.");
    Response r = record_page(env, s, t, rec, v.pending ? said + " (This page follows the outcome.)" : said, failed);
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
    return record_page(env, s, t, rec, message, error, error ? 400 : 200);
  }

  Response record_page(records::Env& env, const http::Session& s, const records::RecordType& t, const json& rec,
                       const std::string& message, bool error, int status = 200, bool remote_content = false) {
    return page(s, t.label, "record", record_model(env, t, rec, message, error, module_names(), remote_content), status);
  }

  Response params(const Request& req, const std::string& message = "", bool error = false) {
    return admin(req, [&](const http::Session& s) {
      auto lock = host_.db().lock();
      auto env = host_.env();
      json params = json::array();
      for (const auto& p : records::param_list(env)) {
        // Delete is a GET to the confirmation page; protected keys have none.
        params.push_back(
            {{"key", p.key}, {"value", p.secret ? "(secret, set)" : *p.value}, {"protected", protected_param(p.key)}});
      }
      return page(s, "System Parameters", "params", {{"banner", banner(message, error)}, {"params", params}});
    });
  }

  Response confirm_param_delete(const Request& req) {
    return admin(req, [&](const http::Session& s) {
      const std::string key = req.query_param("key").value_or("");
      if (protected_param(key)) return param_protected(s, key);
      return confirm_delete(s, "Delete System Parameter", "system parameter \u201c" + key + "\u201d", "/web/params/delete", key,
                            "/web/params");
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

  // `form`: what was sent, shown again after a refusal (a browser cannot refill a file field).
  Response compose(const Request& req, const SubmittedForm* form = nullptr, const std::string& message = "", bool error = false,
                   int status = 200) {
    return admin(req, [&](const http::Session& s) {
      auto v = [&](const char* k) { return form ? form->value(k) : std::string(); };
      std::string shown = message;
      if (form && !form->data.files.empty()) shown += " Choose the attachments again: a browser does not keep them.";
      return page(s, "Compose", "compose",
                  {{"banner", banner(shown, error)},
                   {"from", v("from")},
                   {"to", v("to")},
                   {"subject", v("subject")},
                   {"body", v("body")}},
                  status);
    });
  }

  // An upload the server refused before reading it (too large, too many at once, no room on
  // disk): the form again, saying why; the browser's Back button still holds what was typed.
  Response upload_refused(int status, const std::string& why, const Request& head) {
    log::warning("web", "Compose: an upload was refused (" + std::to_string(status) + "): " + why);
    return compose(head, nullptr,
                   "The mail was not sent: " + why +
                       ". Nothing was queued; go Back to get your text, remove or shrink "
                       "attachments if they are large, and send again.",
                   true, status);
  }

  Response compose_send(const Request& req) {
    auto who = app_.require_admin(req);
    if (auto* r = std::get_if<Response>(&who)) return *r;
    const auto& s = std::get<http::Session>(who);
    SubmittedForm form;
    try {
      form = read_form(req, app_.spool_dir());  // before any database work: this is disk I/O
    } catch (const mail::mime::FormError& e) {
      return compose(req, nullptr, std::string("The form could not be read: ") + e.what() + ". Nothing was queued.", true, 400);
    } catch (const std::exception& e) {
      const std::string ref = crypto::random_token(4);
      log::error("web", "Compose: the attachments could not be received (reference " + ref + "): " + e.what());
      return compose(req, nullptr,
                     "The attachments could not be received: " + std::string(e.what()) +
                         ". Nothing was queued. Check the free disk space of the spool folder (spool_dir) and send again "
                         "(reference " +
                         ref + " in juniper.log).",
                     true, 500);
    }
    if (!http::SessionStore::check_csrf(s, form.value("csrf_token"))) return csrf_refused();
    std::int64_t id = 0;
    try {
      mail::Draft d;
      d.email_from = form.value("from");
      d.email_to = form.value("to");
      d.subject = form.value("subject");
      d.body_text = form.value("body");
      for (const auto& f : form.data.files)
        d.attachments.push_back({f.filename, f.content_type, "", "", &*form.file_bytes, f.offset, f.size});
      auto lock = host_.db().lock();
      auto env = host_.env();
      Transaction tr(host_.db().session());
      id = mail::enqueue(env, d);
      tr.commit();
    } catch (const std::exception& e) {
      return compose(req, &form, failure_text(e, "the mail"), true, dynamic_cast<const UserError*>(&e) != nullptr ? 400 : 500);
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
  router.set_upload(
      "POST", "/web/compose",
      {kComposeUploadLimit, [&app](const Request& head) { return app.admits_upload(head); },
       [p](int status, const std::string& why, const Request& head) { return p->upload_refused(status, why, head); }});
}

}  // namespace juniper::web
