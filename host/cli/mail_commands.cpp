#include "cli/commands.hpp"
#include "core/errors.hpp"
#include "mail/config.hpp"
#include "mail/fetcher.hpp"
#include "mail/queue.hpp"
#include "mail/records.hpp"
#include "mail/sender.hpp"
#include "records/record_service.hpp"

#include <malloc.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

namespace juniper::cli {
namespace {

// `mail process` keeps one malloc heap per core (at least 2) instead of glibc's eight: every
// thread of a send run (a lane, its helper, the committer) had a heap of its own keeping up to
// 2 MB free (main.cpp), and max_connections = 4 peaked at 34 MB instead of 24.7 MB, at the same
// speed. Not `serve`: there the shared heaps slowed the pages while it sent (health p99 4.2-4.9
// -> 6.1-8.2 ms). An administrator's MALLOC_ARENA_MAX or GLIBC_TUNABLES is kept.
void one_heap_per_core() {
  if (std::getenv("MALLOC_ARENA_MAX") == nullptr && std::getenv("GLIBC_TUNABLES") == nullptr) {
    ::mallopt(M_ARENA_MAX, static_cast<int>(std::max(2U, std::thread::hardware_concurrency())));
  }
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UserError("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct MailArgs {
  std::string from, to, cc, bcc, subject, body, body_file, html_file;
  std::vector<std::string> attach;
  long long server = 0;
  std::size_t limit = 0;
  std::size_t batch = 200;
  bool json = false;
};

}  // namespace

// Long: one CLI11 declaration per subcommand (route, send, queue, retry, process, fetch), each a
// few lines, kept together so the command table reads in one place.
void add_mail_commands(CLI::App& app, Globals& g) {
  static MailArgs a;
  auto* m = app.add_subcommand("mail", "route, send, queue and fetch mail");
  m->require_subcommand(1);

  auto* route = m->add_subcommand("route", "show which server a sender's mail would use, without sending");
  route->add_option("--from", a.from, "sender address, e.g. \"John Doe <john@example.com>\"")->required();
  route->add_flag("--json", a.json, "JSON output");
  route->callback([&g] {
    Host& h = g.open();
    auto lock = h.db().lock();
    auto env = h.env();
    const auto cfg = mail::load_mail_config(env, h.data().config());
    const auto decision = mail::make_router(cfg).route(a.from);
    const auto j = mail::describe_route(decision);
    if (a.json) return print_json(j);
    std::cout << "server:   "
              << (decision.server_id ? decision.server_name + " (id " + std::to_string(*decision.server_id) + ")"
                                     : std::string("none (default SMTP settings of juniper.conf)"))
              << "\nfilter:   " << decision.from_filter << "\nFrom:     " << decision.from_header
              << "\nenvelope: " << decision.envelope_from << "\n";
    if (!decision.warning.empty()) std::cout << "warning:  " << decision.warning << "\n";
  });

  auto* send = m->add_subcommand("send", "queue a mail; prints its id");
  send->add_option("--from", a.from)->required();
  send->add_option("--to", a.to, "comma-separated recipients");
  send->add_option("--cc", a.cc);
  send->add_option("--bcc", a.bcc);
  send->add_option("--subject", a.subject);
  send->add_option("--body", a.body);
  send->add_option("--body-file", a.body_file);
  send->add_option("--html-file", a.html_file);
  send->add_option("--attach", a.attach, "a file to attach (repeatable)");
  send->add_option("--server", a.server, "force this outgoing server id");
  send->add_flag("--json", a.json, "JSON output");
  send->callback([&g] {
    mail::Draft d;
    d.email_from = a.from;
    d.email_to = a.to;
    d.email_cc = a.cc;
    d.email_bcc = a.bcc;
    d.subject = a.subject;
    if (!a.body.empty() && !a.body_file.empty()) throw UsageError("give --body or --body-file, not both");
    d.body_text = a.body_file.empty() ? a.body : read_file(a.body_file);
    if (!a.html_file.empty()) d.body_html = read_file(a.html_file);
    for (const auto& f : a.attach) {
      d.attachments.push_back({std::filesystem::path(f).filename().string(), "", "", f});  // read in pieces
    }
    if (a.server != 0) d.mail_server_id = a.server;
    Host& h = g.open();
    auto lock = h.db().lock();
    auto env = h.env();
    Transaction tr(h.db().session());
    const auto id = mail::enqueue(env, d);
    tr.commit();
    a.json ? print_json({{"id", id}}) : void(std::cout << id << "\n");
  });

  auto* process = m->add_subcommand("process", "send the mails that are due");
  process->add_option("--limit", a.limit, "at most this many mails");
  process->add_option("--batch", a.batch, "mails claimed at a time (default 200)")->check(CLI::Range(1, 100000));
  process->add_flag("--json", a.json, "JSON output");
  process->callback([&g] {
    one_heap_per_core();  // before the run's threads exist
    Host& h = g.open();
    auto lock = h.db().lock();
    auto env = h.env();
    mail::Sender sender(env, h.modules().hooks(), h.data().config());
    mail::SenderOptions o;
    o.limit = a.limit;
    o.batch = a.batch;
    const auto r = sender.process(o);
    const nlohmann::json j = {{"sent", r.sent}, {"retry", r.retried}, {"failed", r.failed}, {"connections", r.connections}};
    if (a.json) return print_json(j);
    std::cout << r.sent << " sent, " << r.retried << " to retry, " << r.failed << " failed\n";
  });

  auto* queue = m->add_subcommand("queue", "list the outgoing queue");
  queue->add_flag("--json", a.json, "JSON output");
  queue->callback([&g] {
    Host& h = g.open();
    auto lock = h.db().lock();
    auto env = h.env();
    nlohmann::json out = nlohmann::json::array();
    soci::rowset<soci::row> rs =
        (h.db().session().prepare
         << "SELECT CAST(id AS TEXT), state, email_from, email_to, subject, failure_reason, "
            "CAST(attempts AS TEXT), next_try, message_id, CAST(server_used_id AS TEXT) FROM mail_mail ORDER BY id");
    auto col = [](const soci::row& r, std::size_t i) {
      return r.get_indicator(i) == soci::i_null ? nlohmann::json(nullptr) : nlohmann::json(r.get<std::string>(i));
    };
    for (const auto& r : rs) {
      out.push_back({{"id", std::stoll(r.get<std::string>(0))},
                     {"state", col(r, 1)},
                     {"from", col(r, 2)},
                     {"to", col(r, 3)},
                     {"subject", col(r, 4)},
                     {"failure_reason", col(r, 5)},
                     {"attempts", col(r, 6)},
                     {"next_try", col(r, 7)},
                     {"message_id", col(r, 8)},
                     {"server_used_id", col(r, 9)}});
    }
    if (a.json) return print_json(out);
    for (const auto& j : out) {
      std::cout << j["id"] << "  " << j["state"].get<std::string>() << "  "
                << (j["to"].is_null() ? "" : j["to"].get<std::string>()) << "  "
                << (j["subject"].is_null() ? "" : j["subject"].get<std::string>());
      if (!j["failure_reason"].is_null()) std::cout << "  [" << j["failure_reason"].get<std::string>() << "]";
      // A paced, throttled or backed-off mail says until when it waits.
      if (j["state"] == "outgoing" && !j["next_try"].is_null()) std::cout << "  next try " << j["next_try"].get<std::string>();
      std::cout << "\n";
    }
  });

  auto* fetch = m->add_subcommand("fetch", "fetch incoming mail from every confirmed server once");
  fetch->add_option("--server", a.server, "only this incoming server id");
  fetch->add_flag("--json", a.json, "JSON output");
  fetch->callback([&g] {
    Host& h = g.open();
    auto lock = h.db().lock();
    auto env = h.env();
    std::optional<std::int64_t> only;
    if (a.server != 0) only = a.server;
    const auto r = mail::fetch_all(env, h.modules().hooks(), h.data().config(), only);
    const nlohmann::json j = {{"servers", r.servers},
                              {"stored", r.stored},
                              {"duplicates", r.duplicates},
                              {"skipped", r.skipped},
                              {"failed_servers", r.failed_servers}};
    if (a.json) return print_json(j);
    std::cout << r.stored << " message(s) stored from " << r.servers << " server(s)";
    if (r.failed_servers) std::cout << "; " << r.failed_servers << " server(s) failed (see their Last Error)";
    std::cout << "\n";
    if (r.failed_servers) throw UserError("fetching failed on " + std::to_string(r.failed_servers) + " server(s)");
  });
}

}  // namespace juniper::cli
