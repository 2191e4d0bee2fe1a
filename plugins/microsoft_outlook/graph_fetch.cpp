#include "graph.hpp"

#include "graph_call.hpp"

#include <algorithm>
#include <optional>

// Fetching through Microsoft Graph: the Inbox's delta query, each unread message's MIME through
// $value, stored by the host, then marked read in $batch requests.
namespace outlook::graph {
namespace {

using detail::call;
using detail::fail_read;

constexpr const char* kSkippedField = "microsoft_outlook_graph_skipped";
constexpr const char* kDeltaField = "microsoft_outlook_graph_delta";
constexpr std::size_t kMaxSkipped = 200;  // the oldest are forgotten (fetched again, skipped again)

json skipped_of(const json& server) {
  try {
    json j = json::parse(text(server, kSkippedField));
    if (j.is_array()) return j;
  } catch (const json::exception&) {
  }
  return json::array();
}

bool is_skipped(const json& skipped, const std::string& graph_id) {
  return std::find(skipped.begin(), skipped.end(), json(graph_id)) != skipped.end();
}

void remember_skipped(sdk::Context& ctx, std::int64_t id, json skipped) {
  while (skipped.size() > kMaxSkipped) skipped.erase(skipped.begin());
  ctx.write(kIncoming.model, id, {{kSkippedField, skipped.dump()}});
}

// One message's MIME. A message larger than the host takes in one answer is left unread in the
// mailbox and remembered, so it neither stops the fetch nor is downloaded again: it hurts only
// itself. Other failures are the whole fetch's (throttling, outages, the consent).
std::optional<sdk::Context::HttpReply> fetch_one(sdk::Context& ctx, std::int64_t id, const std::string& box,
                                                 const std::string& graph_id, const std::string& mailbox, json& too_large) {
  std::string refused;
  auto r = call(ctx, kIncoming, id, "GET", endpoint(ctx) + box + "messages/" + sdk::url_encode(graph_id) + "/$value", {}, nullptr,
                &refused);
  if (!refused.empty()) {
    ctx.log(JUNIPER_LOG_WARNING, "a message of " + mailbox + " was not fetched through Microsoft Graph (" + refused +
                                     "); it stays unread in the mailbox: read it in Outlook (Graph id " + graph_id + ")");
    too_large.push_back(graph_id);
    return std::nullopt;
  }
  if (r.status != 200) fail_read(ctx, kIncoming, id, r, mailbox);
  return r;
}

// One fetch of a Graph inbox: where it reads, what it stored, what it left.
struct Run {
  sdk::Context& ctx;
  std::int64_t id;
  std::string mailbox;
  std::string box;  // "me/" or "users/<mailbox>/"
  json too_large;   // Graph ids not to download again
  std::size_t stored = 0, duplicates = 0;
  bool all_marked = true;  // every stored message was marked read
};

// Stores `ids` (their MIME through $value) and marks them read, twenty at a time (one $batch):
// each is stored and committed by the host before any is marked read.
void take(Run& run, const std::vector<std::string>& ids) {
  sdk::Context& ctx = run.ctx;
  for (std::size_t first = 0; first < ids.size(); first += 20) {
    const std::size_t end = std::min(ids.size(), first + 20);
    json batch = {{"requests", json::array()}};
    for (std::size_t i = first; i < end; ++i) {
      const auto r = fetch_one(ctx, run.id, run.box, ids[i], run.mailbox, run.too_large);
      if (!r) continue;
      ++(ctx.store_message(kIncoming.model, run.id, r->body) ? run.stored : run.duplicates);
      batch["requests"].push_back({{"id", std::to_string(i)},
                                   {"method", "PATCH"},
                                   {"url", "/" + run.box + "messages/" + sdk::url_encode(ids[i])},
                                   {"headers", {{"Content-Type", "application/json"}}},
                                   {"body", {{"isRead", true}}}});
    }
    if (batch["requests"].empty()) continue;
    const auto r = call(ctx, kIncoming, run.id, "POST", endpoint(ctx) + "$batch", batch.dump(), "application/json");
    if (r.status != 200) fail_read(ctx, kIncoming, run.id, r, run.mailbox);
    for (const auto& answer : json::parse(r.body).value("responses", json::array())) {
      // Stored but still unread: the page is read again next time and the host skips it.
      if (answer.value("status", 0) != 200) {
        run.all_marked = false;
        ctx.log(JUNIPER_LOG_WARNING, "Graph did not mark a stored message read (HTTP " +
                                         std::to_string(answer.value("status", 0)) + "); it is skipped next time");
      }
    }
  }
}

}  // namespace

std::optional<json> collect(sdk::Context& ctx, const json& payload) {
  if (detail::ours(payload) != &kIncoming) return std::nullopt;
  const std::int64_t id = payload.value("id", std::int64_t{0});
  const json server = ctx.read(kIncoming.model, id);
  if (!selected(server)) return std::nullopt;
  const std::size_t limit = std::max<std::size_t>(payload.value("limit", std::size_t{50}), 1);  // mail.fetch.batch
  const std::string mailbox = target_mailbox(kIncoming, server);
  Run run{ctx, id, mailbox, mailbox_path(kIncoming, server, mailbox), skipped_of(server)};
  const std::size_t known = run.too_large.size();
  // The Inbox's delta: the first round lists every message (ids and isRead, a page at a time),
  // later rounds only what changed since; a page's link is kept once its messages are stored
  // and marked read, so a crash repeats at most that page (and the host skips what it has).
  const std::string folder = endpoint(ctx) + run.box + "mailFolders/inbox/messages/delta";
  const std::string start = folder + "?$select=isRead";
  std::string link = text(server, kDeltaField);
  if (!link.starts_with(folder)) link = start;  // none yet, or another mailbox, flow or endpoint
  const json prefer = {{"Prefer", "odata.maxpagesize=" + std::to_string(std::min<std::size_t>(limit, 100))}};
  bool restarted = false;
  while (run.stored + run.duplicates + (run.too_large.size() - known) < limit) {
    const auto r = call(ctx, kIncoming, id, "GET", link, {}, nullptr, nullptr, prefer);
    if (r.status == 410 && !restarted) {  // SyncStateNotFound: Graph asks for a new first round
      restarted = true;
      link = start;
      continue;
    }
    if (r.status != 200) fail_read(ctx, kIncoming, id, r, mailbox);
    const json page = json::parse(r.body);
    std::vector<std::string> ids;
    for (const auto& m : page.value("value", json::array())) {
      const std::string graph_id = m.value("id", "");
      if (!m.contains("@removed") && !m.value("isRead", true) && !is_skipped(run.too_large, graph_id)) ids.push_back(graph_id);
    }
    take(run, ids);
    const std::string next = page.value("@odata.nextLink", page.value("@odata.deltaLink", ""));
    if (!run.all_marked || next.empty()) break;  // a message still unread: this page again next time
    ctx.write(kIncoming.model, id, {{kDeltaField, next}});
    if (!page.contains("@odata.nextLink")) break;  // the round is complete
    link = next;
  }
  const std::size_t skipped_now = run.too_large.size() - known;
  if (skipped_now > 0) remember_skipped(ctx, id, std::move(run.too_large));
  return json{{"stored", run.stored}, {"duplicates", run.duplicates}, {"skipped", skipped_now}};
}
}  // namespace outlook::graph
