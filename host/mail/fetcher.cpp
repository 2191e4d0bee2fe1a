#include "mail/fetcher.hpp"

#include "core/crypto.hpp"
#include "core/data_dir.hpp"
#include "core/errors.hpp"
#include "core/log.hpp"
#include "mail/attachment_store.hpp"
#include "mail/imap/session.hpp"
#include "mail/mime/message.hpp"
#include "mail/records.hpp"
#include "mail/sender.hpp"
#include "modules/inbox.hpp"
#include "records/params.hpp"
#include "records/record_service.hpp"

#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <exception>
#include <filesystem>
#include <mutex>
#include <optional>
#include <thread>

namespace juniper::mail {
namespace {

// Messages fetched, stored and marked read together: memory follows one chunk, not the batch.
constexpr std::size_t kChunkMessages = 20;
constexpr std::uint64_t kChunkBytes = 4u * 1024 * 1024;

// The UIDs in chunks of at most kChunkMessages and kChunkBytes (a larger message goes alone).
std::vector<std::vector<std::uint32_t>> chunks(const std::vector<std::pair<std::uint32_t, std::uint32_t>>& sizes) {
  std::vector<std::vector<std::uint32_t>> out;
  std::uint64_t bytes = 0;
  for (const auto& [uid, size] : sizes) {
    if (out.empty() || out.back().size() >= kChunkMessages || bytes + size > kChunkBytes) {
      out.emplace_back();
      bytes = 0;
    }
    out.back().push_back(uid);
    bytes += size;
  }
  return out;
}

std::string ca_file(const std::map<std::string, std::string>& conf) {
  if (const char* ca = std::getenv("JUNIPER_CA_FILE"); ca != nullptr && *ca != '\0') return ca;
  const auto it = conf.find("ca_file");
  return it == conf.end() ? std::string() : it->second;
}

std::string text(const nlohmann::json& rec, const char* field) {
  return rec[field].is_string() ? rec[field].get<std::string>() : std::string();
}

// How to log in to a server: credentials for IMAP, or its module fetches it (mail.collect).
struct Login {
  bool by_module = false;
  imap::Credentials credentials;
};

Login login(records::Env& env, modules::HookBus& hooks, const nlohmann::json& server) {
  const std::string kind = text(server, "server_type");
  if (kind == "imap") return {false, {imap::AuthKind::password, text(server, "user"), text(server, "password")}};
  const nlohmann::json payload = {{"model", kIncomingServer}, {"id", server["id"]}, {"kind", kind}};
  const auto r = emit_committed(env, hooks, "mail.fetch.login", payload);
  if (r.status == JUNIPER_ERR_UNSUPPORTED) {
    throw UserError("no installed module handles the server type \"" + kind + "\" of incoming server \"" + text(server, "name") +
                    "\"");
  }
  if (r.status == JUNIPER_ERR_TEMPORARY) throw TemporaryError(r.error);
  if (r.status != JUNIPER_OK) throw UserError(r.error);
  const auto c = nlohmann::json::parse(r.reply_json);
  if (c.value("delivery", "") == "module") return {true, {}};
  return {false,
          {c.value("auth", "") == "xoauth2" ? imap::AuthKind::xoauth2 : imap::AuthKind::password, c.value("user", ""),
           c.value("secret", "")}};
}

std::unique_ptr<imap::Session> open(const std::map<std::string, std::string>& conf, const nlohmann::json& server,
                                    const imap::Credentials& credentials) {
  imap::Endpoint ep;
  ep.host = text(server, "server");
  ep.port = server["port"].is_number() ? server["port"].get<int>() : 993;
  ep.ssl = server["is_ssl"].is_boolean() ? server["is_ssl"].get<bool>() : true;
  ep.ca_file = ca_file(conf);
  if (const auto it = conf.find("spool_dir"); it != conf.end()) ep.spill_dir = it->second;
  if (ep.host.empty()) throw UserError("the incoming mail server \"" + text(server, "name") + "\" has no Server Name: set it");
  auto s = std::make_unique<imap::Session>(ep, credentials);
  s->open("INBOX");
  return s;
}

// The same message already stored from this server: same content, and the same Message-ID
// when it has one. A different message reusing a known Message-ID is stored, not dropped.
bool already_stored(records::Env& env, const std::string& message_id, const std::string& hash, std::int64_t server_id) {
  // By (server, content hash) first: that index answers it without reading any message body.
  soci::rowset<soci::row> rs = (env.sql().prepare << "SELECT message_id FROM mail_message WHERE fetchmail_server_id = :s "
                                                     "AND content_hash = :h",
                                soci::use(server_id), soci::use(hash));
  for (const auto& r : rs) {
    if ((r.get_indicator(0) == soci::i_null ? std::string() : r.get<std::string>(0)) == message_id) return true;
  }
  return false;
}

// What a fetch keeps of attachments (the server's Keep Attachments): their bytes, written into
// an unlinked file of `dir` as they are decoded (never whole in memory), or their names and
// sizes only (their bytes are counted, never held).
struct Keep {
  bool attachments = true;
  std::filesystem::path dir;  // empty: in memory (a module's message, already in memory whole)
};

// The incoming server's Keep Attachments (on when unset, as its default).
bool keeps_attachments(const nlohmann::json& server) { return !server["attach"].is_boolean() || server["attach"].get<bool>(); }

// A fetched message made ready to store: parsed and hashed (no database needed, so the IMAP
// thread does it while the previous chunk is being stored).
struct Incoming {
  nlohmann::json values;
  std::string hash;
  std::optional<Spooled> attachment_bytes;                  // Keep::attachments: all of them, one after the other
  std::vector<std::pair<std::size_t, std::size_t>> ranges;  // each attachment's offset and size in it
};

mime::ParsedMessage parse(const Spooled& raw, const Keep& keep, Incoming& in) {
  using mime::AttachmentData;
  const AttachmentData how = !keep.attachments  ? AttachmentData::size_only
                             : keep.dir.empty() ? AttachmentData::kept
                                                : AttachmentData::to_file;
  const mime::AttachmentFile file = [&] { return in.attachment_bytes.emplace(Spooled::file_in(keep.dir)).fd(); };
  mime::ParsedMessage p =
      raw.in_file() ? mime::parse_file(raw.fd(), raw.size(), how, file) : mime::parse(raw.memory(), how, file);
  if (how == AttachmentData::kept && !p.attachments.empty()) {
    in.attachment_bytes.emplace();
    for (auto& a : p.attachments) {
      a.offset = in.attachment_bytes->size();
      in.attachment_bytes->append(a.data);
      std::string().swap(a.data);
    }
  }
  if (how == AttachmentData::to_file && in.attachment_bytes) in.attachment_bytes->written_directly();
  if (how != AttachmentData::size_only) {
    for (const auto& a : p.attachments) in.ranges.emplace_back(a.offset, a.size);
  }
  return p;
}

Incoming prepare_incoming(std::int64_t server_id, const Spooled& raw, const Keep& keep) {
  Incoming in;
  in.hash = crypto::to_hex(crypto::sha256(raw));
  nlohmann::json& v = in.values;
  v = {{"fetchmail_server_id", server_id}, {"raw_size", static_cast<std::int64_t>(raw.size())}, {"content_hash", in.hash}};
  try {
    const mime::ParsedMessage p = parse(raw, keep, in);
    v["message_id"] = p.message_id;
    v["email_from"] = p.from;
    v["email_to"] = p.to;
    v["email_cc"] = p.cc;
    v["subject"] = p.subject;
    if (!p.date.empty()) v["date"] = p.date;
    v["body_text"] = p.text_body;
    v["body_html"] = p.html_body;
    nlohmann::json atts = nlohmann::json::array();
    for (const auto& a : p.attachments) {
      atts.push_back({{"filename", a.filename}, {"content_type", a.content_type}, {"size", a.size}});
      if (!in.ranges.empty()) atts.back()["stored"] = true;  // downloadable from the message's page
    }
    if (!atts.empty()) v["attachments"] = atts.dump();
  } catch (const std::exception& e) {
    // Nothing is lost: the raw message is kept with the reason it could not be read.
    v["parse_error"] = e.what();
    v["raw"] = raw.read();
    in.attachment_bytes.reset();
    in.ranges.clear();
  }
  return in;
}

// False when the message was already stored (a crash between commit and \Seen refetches it).
bool store(records::Env& env, std::int64_t server_id, const Incoming& in) {
  if (already_stored(env, in.values.value("message_id", ""), in.hash, server_id)) return false;
  const std::int64_t id = records::create(env, kMessage, in.values);
  for (std::size_t i = 0; i < in.ranges.size(); ++i) {
    store_attachment(env, id, static_cast<int>(i), *in.attachment_bytes, in.ranges[i].first, in.ranges[i].second, Owner::message);
  }
  return true;
}

// A server its module fetches (a mail API): the module stores each message through the host
// call message_store, which commits it, and marks it read at its service afterwards.
void collect(records::Env& env, modules::HookBus& hooks, const nlohmann::json& server, std::size_t limit, FetchReport& report) {
  const nlohmann::json payload = {
      {"model", kIncomingServer}, {"id", server["id"]}, {"kind", text(server, "server_type")}, {"limit", limit}};
  const auto r = emit_committed(env, hooks, "mail.collect", payload);
  if (r.status == JUNIPER_ERR_TEMPORARY) throw TemporaryError(r.error);
  if (r.status != JUNIPER_OK) throw UserError(r.error.empty() ? "no installed module fetches this server" : r.error);
  const auto a = nlohmann::json::parse(r.reply_json);
  report.stored += a.value("stored", std::size_t{0});
  report.duplicates += a.value("duplicates", std::size_t{0});
  report.skipped += a.value("skipped", std::size_t{0});
}

// A fetched chunk, parsed, on its way from the IMAP thread to the storing one.
struct ParsedChunk {
  std::vector<std::uint32_t> uids;
  std::vector<Incoming> messages;
};

// The hand-over between the IMAP thread (fetches and parses the next chunk, marks read what is
// committed) and the storing thread (the caller's, with its database connection): one parsed
// chunk waits at most, so memory stays a few chunks whatever the batch.
class Handover {
 public:
  // IMAP side. False: the storing side gave up.
  bool put(ParsedChunk c) {
    std::unique_lock l(mu_);
    cv_.wait(l, [&] { return ready_.empty() || stopped_; });
    if (stopped_) return false;
    ready_.push_back(std::move(c));
    cv_.notify_all();
    return true;
  }
  // Chunks committed since the last call; `wait`: until there is one or nothing more will come.
  std::optional<std::vector<std::uint32_t>> take_committed(bool wait) {
    std::unique_lock l(mu_);
    if (wait) cv_.wait(l, [&] { return !committed_.empty() || stored_all_ || stopped_; });
    if (committed_.empty()) return std::nullopt;
    auto c = std::move(committed_.front());
    committed_.pop_front();
    return c;
  }
  void fetched_all(std::exception_ptr error = nullptr) {
    std::lock_guard l(mu_);
    fetched_all_ = true;
    error_ = error;
    cv_.notify_all();
  }
  // Storing side. Nullopt: nothing more to store.
  std::optional<ParsedChunk> get() {
    std::unique_lock l(mu_);
    cv_.wait(l, [&] { return !ready_.empty() || fetched_all_; });
    if (ready_.empty()) return std::nullopt;
    auto c = std::move(ready_.front());
    ready_.pop_front();
    cv_.notify_all();
    return c;
  }
  void committed(std::vector<std::uint32_t> uids) {
    std::lock_guard l(mu_);
    committed_.push_back(std::move(uids));
    cv_.notify_all();
  }
  void stored_all() {
    std::lock_guard l(mu_);
    stored_all_ = true;
    cv_.notify_all();
  }
  void stop() {
    std::lock_guard l(mu_);
    stopped_ = true;
    cv_.notify_all();
  }
  std::exception_ptr error() {
    std::lock_guard l(mu_);
    return error_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<ParsedChunk> ready_;
  std::deque<std::vector<std::uint32_t>> committed_;
  bool fetched_all_ = false, stored_all_ = false, stopped_ = false;
  std::exception_ptr error_;
};

// The IMAP thread: fetches and parses chunk after chunk, and marks read each chunk once the
// storing side has committed it (never before: a crash in between only refetches).
void fetch_chunks(imap::Session& session, std::int64_t server_id, const Keep& keep,
                  const std::vector<std::vector<std::uint32_t>>& plan, Handover& h) {
  try {
    for (const auto& uids : plan) {
      std::vector<std::uint32_t> committed;  // marked read in the same exchange as this fetch
      while (auto done = h.take_committed(false)) committed.insert(committed.end(), done->begin(), done->end());
      ParsedChunk chunk{uids, {}};
      for (const auto& [uid, raw] : session.fetch_peek_many(uids, committed)) {
        chunk.messages.push_back(prepare_incoming(server_id, raw, keep));
      }
      if (!h.put(std::move(chunk))) break;
    }
    h.fetched_all();
    while (auto done = h.take_committed(true)) session.mark_seen(*done);
    session.close();
  } catch (...) {
    h.fetched_all(std::current_exception());
  }
}

void fetch_imap(records::Env& env, const std::map<std::string, std::string>& conf, const nlohmann::json& server,
                const imap::Credentials& credentials, std::size_t batch, FetchReport& report) {
  const std::int64_t id = server["id"].get<std::int64_t>();
  auto session = open(conf, server, credentials);
  std::vector<std::uint32_t> uids = session->search_unseen();
  if (uids.size() > batch) uids.resize(batch);
  const auto plan = chunks(session->sizes(uids));
  const auto spool = conf.find("spool_dir");
  const Keep keep{keeps_attachments(server),
                  spool != conf.end() ? std::filesystem::path(spool->second) : std::filesystem::temp_directory_path()};
  // While this thread stores a chunk, the IMAP thread fetches and parses the next.
  Handover h;
  std::thread imap_side([&] { fetch_chunks(*session, id, keep, plan, h); });
  try {
    while (auto chunk = h.get()) {
      Transaction tr(env.sql());
      for (const auto& m : chunk->messages) ++(store(env, id, m) ? report.stored : report.duplicates);
      tr.commit();                          // stored first ...
      h.committed(std::move(chunk->uids));  // ... then marked read by the IMAP thread
    }
  } catch (...) {
    h.stop();
    imap_side.join();
    throw;
  }
  h.stored_all();
  imap_side.join();
  if (const auto e = h.error()) std::rethrow_exception(e);
}

}  // namespace

bool store_committed(records::Env& env, std::int64_t server_id, std::string_view raw) {
  const auto server = records::read_fields(env, kIncomingServer, server_id, {"attach"});
  const Incoming in = prepare_incoming(server_id, Spooled(std::string(raw)), Keep{keeps_attachments(server), {}});
  Transaction tr(env.sql());
  const bool stored = store(env, server_id, in);
  tr.commit();
  return stored;
}

std::string confirm_login(records::Env& env, modules::HookBus& hooks, const std::map<std::string, std::string>& conf,
                          std::int64_t server_id) {
  const auto server = records::read(env, kIncomingServer, server_id, records::Secrets::revealed);
  try {
    const Login l = login(env, hooks, server);
    if (l.by_module) {
      const auto r = emit_committed(env, hooks, "mail.check",
                                    {{"model", kIncomingServer}, {"id", server_id}, {"kind", text(server, "server_type")}});
      if (r.status != JUNIPER_OK) throw UserError(r.error);
    } else {
      auto s = open(conf, server, l.credentials);
      s->close();
    }
  } catch (const imap::Error& e) {
    throw UserError(e.what());
  } catch (const TemporaryError& e) {
    throw UserError(e.what());
  }
  records::write(env, kIncomingServer, server_id, {{"state", "done"}, {"error_message", nullptr}, {"error_date", nullptr}});
  return "Connection Test Successful! The server is confirmed: its mail will be fetched.";
}

FetchReport fetch_all(records::Env& env, modules::HookBus& hooks, const std::map<std::string, std::string>& conf,
                      std::optional<std::int64_t> only) {
  FetchReport report;
  std::vector<std::int64_t> ids;
  {
    Transaction tr(env.sql());
    ids = only ? std::vector<std::int64_t>{*only} : records::search(env, kIncomingServer, {{"state", "done"}, {"active", true}});
    tr.commit();
  }
  std::size_t batch = 50;
  {
    Transaction tr(env.sql());
    if (const auto b = records::param_get(env, "mail.fetch.batch")) batch = std::max<std::size_t>(1, std::stoul(*b));
    tr.commit();
  }
  for (const auto id : ids) {
    ++report.servers;
    nlohmann::json server;
    {
      Transaction tr(env.sql());
      server = records::read(env, kIncomingServer, id, records::Secrets::revealed);
      tr.commit();
    }
    try {
      const Login l = login(env, hooks, server);
      if (l.by_module) {
        collect(env, hooks, server, batch, report);
      } else {
        fetch_imap(env, conf, server, l.credentials, batch, report);
      }
      Transaction tr(env.sql());
      records::write(env, kIncomingServer, id, {{"date", now_iso()}, {"error_message", nullptr}, {"error_date", nullptr}});
      tr.commit();
    } catch (const std::exception& e) {
      ++report.failed_servers;
      log::warning("mail", "fetch from incoming server " + text(server, "name") + " failed: " + e.what());
      Transaction tr(env.sql());
      records::write(env, kIncomingServer, id, {{"error_message", e.what()}, {"error_date", now_iso()}});
      tr.commit();
    }
  }
  return report;
}

}  // namespace juniper::mail
