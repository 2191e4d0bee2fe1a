#include "mail/queue_run.hpp"

#include "core/crypto.hpp"
#include "core/errors.hpp"
#include "core/log.hpp"
#include "mail/address.hpp"
#include "mail/attachment_store.hpp"
#include "mail/group_commit.hpp"
#include "mail/lane_helper.hpp"
#include "mail/records.hpp"
#include "modules/outbox.hpp"

#include <algorithm>
#include <atomic>
#include <deque>
#include <future>
#include <thread>

namespace juniper::mail {
namespace {

constexpr std::chrono::seconds kConfigurationWait{300};
// Lanes sent at once by one run (each holds an SMTP session and a database connection).
constexpr std::size_t kMaxParallelLanes = 6;
// Messages a lane's helper builds ahead of the one on the wire. Each holds a built message:
// a second one cost ~0.75 MB of peak RSS and gained nothing measurable. With one, a sent mail's
// commit never queues behind a build the next dot does not need: the next build has started
// by the time it is posted.
constexpr std::size_t kBuiltAhead = 1;

bool is_paced(const Transport& t) { return (t.max_per_minute > 0 || t.max_recipients_per_day > 0) && t.server_id; }

}  // namespace

QueueRun::QueueRun(records::Env& env, modules::HookBus& hooks, const std::map<std::string, std::string>& conf,
                   const SenderOptions& o)
    : env_(env), hooks_(hooks), options_(o), owner_(crypto::random_token(8)) {
  Transaction tr(env_.sql());
  cfg_ = load_mail_config(env_, conf);
  tr.commit();
  router_.emplace(make_router(cfg_));
  lease_ = o.lease.count() > 0 ? o.lease : cfg_.lease;
  lease_renewed_ = std::chrono::steady_clock::now();
}

QueueRun::~QueueRun() {
  committer_.reset();  // what the lanes handed over is committed before the sessions close
  close_all();
}

SendReport QueueRun::run() {
  std::size_t remaining = options_.limit == 0 ? SIZE_MAX : options_.limit;
  while (remaining > 0) {
    auto claimed = claim_batch(std::min(options_.batch, remaining));
    if (claimed.empty()) break;
    remaining -= claimed.size();
    std::vector<Lane> lanes;
    for (auto& [key, mails] : route(std::move(claimed))) add_lanes(key, std::move(mails), lanes);
    run_lanes(lanes);
  }
  close_all();
  if (report_.sent + report_.retried + report_.failed > 0) {
    log::info("mail", "queue run: " + std::to_string(report_.sent) + " sent, " + std::to_string(report_.retried) + " to retry, " +
                          std::to_string(report_.failed) + " failed over " + std::to_string(report_.connections) +
                          " connection(s)");
  }
  return report_;
}

std::chrono::system_clock::time_point QueueRun::now() const {
  return options_.clock ? options_.clock() : std::chrono::system_clock::now();
}

std::vector<QueuedMail> QueueRun::claim_batch(std::size_t n) {
  Transaction tr(env_.sql());
  auto claimed = claim(env_, owner_, n, lease_, now());
  tr.commit();
  std::lock_guard g(mu_);
  lease_renewed_ = std::chrono::steady_clock::now();
  held_.clear();  // the previous batch is all recorded
  for (const auto& m : claimed) held_.insert(m.id);
  return claimed;
}

// Keeps this run's claim alive while a long batch is sent (called before each mail) and tells
// whether `mail_id` is still this run's: when a slow transaction outlasted the lease, another
// sender may have claimed the mail, and sending it here too would deliver it twice.
bool QueueRun::keep_lease(std::int64_t mail_id) {
  std::lock_guard g(mu_);
  if (std::chrono::steady_clock::now() - lease_renewed_ >= lease_ / 3) {
    std::lock_guard rows(rows_mu_);
    Transaction tr(env_.sql());
    auto held = renew_lease(env_, owner_, lease_, now());
    tr.commit();
    held_ = {held.begin(), held.end()};
    lease_renewed_ = std::chrono::steady_clock::now();
  }
  return held_.contains(mail_id);
}

// Routes every mail now (not at enqueue time) and groups them by (server, envelope sender).
std::map<QueueRun::GroupKey, std::vector<QueueRun::Routed>> QueueRun::route(std::vector<QueuedMail> claimed) {
  std::map<GroupKey, std::vector<Routed>> groups;
  for (auto& m : claimed) {
    try {
      RouteDecision d;
      if (m.mail_server_id) {
        d.server_id = m.mail_server_id;
        d.from_header = encode_address_header(m.email_from);
        d.envelope_from = envelope_address(m.email_from);
      } else {
        d = router_->route(m.email_from);
      }
      groups[{d.server_id.value_or(0), d.envelope_from}].push_back({std::move(m), d.from_header, d.envelope_from});
    } catch (const std::exception& e) {
      record(m, {Outcome::failed, std::string("cannot route this mail: ") + e.what()});
    }
  }
  return groups;
}

// Resolves the group's transport once (a failure applies to every mail of the group) and deals
// its mails round-robin into up to max_connections lanes.
void QueueRun::add_lanes(const GroupKey& key, std::vector<Routed> mails, std::vector<Lane>& lanes) {
  Transport transport;
  try {
    transport = key.first != 0 ? server_transport(env_, hooks_, cfg_, key.first, false) : default_transport(cfg_);
  } catch (const TemporaryError& e) {
    for (const auto& r : mails) record(r.mail, {Outcome::retry, e.what()});
    return;
  } catch (const std::exception& e) {
    // Configuration to fix (no server, an account to reconnect): the mails wait with the
    // reason, without burning attempts, and go out once it is fixed.
    const std::optional<std::int64_t> server = key.first != 0 ? std::optional<std::int64_t>(key.first) : std::nullopt;
    for (const auto& r : mails) record(r.mail, {Outcome::wait, e.what(), server});
    return;
  }
  const std::size_t n = std::clamp<std::size_t>(transport.max_connections, 1, mails.size());
  const std::size_t first = lanes.size();
  for (std::size_t i = 0; i < n; ++i) lanes.push_back({{key.first, key.second, i}, transport, {}});
  for (std::size_t i = 0; i < mails.size(); ++i) lanes[first + i % n].mails.push_back(std::move(mails[i]));
}

void QueueRun::run_lanes(std::vector<Lane>& lanes) {
  if (!committer_ && !lanes.empty()) {
    committer_ = std::make_unique<GroupCommit<Sent>>([this](std::vector<Sent>& sent) { record_sent(sent); });
  }
  // Each worker holds a connection and so does the thread building its next message, beside
  // the caller's: more workers than the pool holds pairs for would wait on each other for ever.
  const std::size_t pairs = std::max<std::size_t>(1, (env_.db.max_connections() - 1) / 2);
  const std::size_t workers = std::min({lanes.size(), kMaxParallelLanes, pairs});
  if (workers <= 1) {
    for (auto& lane : lanes) send_lane(lane);
    return;
  }
  std::atomic<std::size_t> next{0};
  std::mutex failure_mu;
  std::exception_ptr failure;
  std::vector<std::thread> threads;
  for (std::size_t w = 0; w < workers; ++w) {
    threads.emplace_back([&] {
      try {
        auto lease = env_.db.lock();  // this thread's own database connection
        for (std::size_t i; (i = next++) < lanes.size();) send_lane(lanes[i]);
      } catch (...) {  // a database error: the run ends, the leases bring the mails back
        std::lock_guard g(failure_mu);
        if (!failure) failure = std::current_exception();
        next = lanes.size();
      }
    });
  }
  for (auto& t : threads) t.join();
  if (failure) std::rethrow_exception(failure);
}

// A lane's second thread and what it has in hand: the lane's helper (its own database
// connection) reads and builds the next message while the lane is on the wire, and the run's
// committer commits each sent mail's outcome while the next mail goes out. Bodies are read
// kBuiltAhead mails ahead and freed once built: memory follows the lane, not the batch.
class QueueRun::LaneWork {
 public:
  LaneWork(QueueRun& run, Lane& lane)
      : run_(run), mails_(lane.mails), plan_(lane.transport.module_delivery ? lane.transport.attachments : AttachmentPlan{}) {
    build_more();
  }
  // Whichever way the lane ends, its handed-over outcome is committed (or has failed) before the
  // lane and its mails, which the committer reads, go away.
  ~LaneWork() {
    if (recorded_.valid()) recorded_.wait();
  }
  LaneWork(const LaneWork&) = delete;
  LaneWork& operator=(const LaneWork&) = delete;

  // Mail i's message (mails are taken in order), once built; rethrows what its build threw.
  Prepared take(std::size_t i) {
    Prepared p = ahead_.front().get();
    ahead_.pop_front();
    drop_body(mails_[i].mail);
    build_more();
    return p;
  }

  // The last sent mail's outcome is committed before the next mail's final dot: a crash before
  // that dot leaves the server without the next mail, so a killed sender still resends at most
  // the mail in flight. False: the commit failed, the next mail is held back.
  bool before_dot() {
    if (!recorded_.valid()) return true;
    try {
      recorded_.get();
      return true;
    } catch (...) {
      record_failed_ = std::current_exception();
      return false;
    }
  }

  // Hands a sent mail's outcome to the run's committer, with those of the other lanes.
  void record_later(Sent sent) { recorded_ = run_.committer_->post(std::move(sent)); }

  // Before any way out of the lane, and before the lane records the rest itself: the pending
  // builds done (they write into the mails), the last outcome committed, and a failed commit
  // thrown (the run ends; the leases bring the mails back).
  void settle() {
    for (auto& f : ahead_) f.wait();
    rethrow_if_failed();
    if (recorded_.valid()) recorded_.get();
  }

  // After a send: a mail held back at its dot means the run ends with the commit's error.
  void rethrow_if_failed() const {
    if (record_failed_) std::rethrow_exception(record_failed_);
  }

 private:
  void build_more() {
    for (; next_build_ < mails_.size() && ahead_.size() < kBuiltAhead; ++next_build_) {
      ahead_.push_back(helper_.post([&run = run_, &m = mails_[next_build_], &plan = plan_] {
        auto lease = run.env_.db.lock();
        load_body(run.env_, m.mail, plan);
        // A body is read once: its pages leave this connection's cache, which otherwise fills
        // SQLite's 2 MB with bodies (+0.6 to 1.4 MB peak RSS of mail process, the same CPU).
        if (!run.env_.db.is_postgres()) run.env_.sql() << "PRAGMA shrink_memory";
        return prepare(m.mail, m.from_header);
      }));
    }
  }

  QueueRun& run_;
  std::vector<Routed>& mails_;
  const AttachmentPlan plan_;
  std::deque<std::future<Prepared>> ahead_;
  std::size_t next_build_ = 0;
  std::future<void> recorded_;
  std::exception_ptr record_failed_;
  LaneHelper helper_;  // last: joined first, while what its errands use still exists
};

// A paced mail is out of flight once its outcome is recorded (or handed over to be), or when
// its send throws.
struct QueueRun::Paced {
  QueueRun& run;
  const Lane& lane;
  std::size_t recipients;
  bool recorded = false;
  void record(const QueuedMail& m, const Outcome& out) {
    recorded = true;
    run.record_paced(lane, m, out, recipients);
  }
  Sent handed_over(const QueuedMail& m, const Outcome& out) {  // record_sent takes it out of flight
    recorded = true;
    return {&lane, &m, out};
  }
  ~Paced() {
    if (!recorded) run.done_pacing(lane, recipients);
  }
};

void QueueRun::send_lane(Lane& lane) {
  auto& mails = lane.mails;
  if (mails.empty()) return;
  bool refreshed = false;
  LaneWork work(*this, lane);
  for (std::size_t i = 0; i < mails.size(); ++i) {
    Prepared p = work.take(i);
    if (!keep_lease(mails[i].mail.id)) {
      log::warning("mail", "mail " + std::to_string(mails[i].mail.id) +
                               ": its lease ran out while this run was busy and another sender took it; it is sent there");
      continue;
    }
    if (!p.error.empty()) {
      record(mails[i].mail, {Outcome::failed, p.error});
      continue;
    }
    if (auto held = pace(lane, p.recipients.size())) {  // the server's budget is spent for now
      work.settle();
      hold_rest(mails, i, *held);
      return;
    }
    Paced paced{*this, lane, p.recipients.size()};
    if (lane.transport.module_delivery) {
      const Outcome out = deliver_by_module(lane, mails[i], p);
      paced.record(mails[i].mail, out);
      if (out.kind == Outcome::throttled || out.kind == Outcome::wait) {
        // The service asked to slow down, or needs a fix: the rest of the lane waits as well.
        work.settle();
        hold_rest(mails, i + 1, out);
        return;
      }
      continue;
    }
    smtp::Result res;
    const Outcome out = send_one(lane, refreshed, mails[i], p, res, [&work] { return work.before_dot(); });
    work.rethrow_if_failed();
    if (out.kind == Outcome::sent) {
      work.record_later(paced.handed_over(mails[i].mail, out));
      continue;
    }
    paced.record(mails[i].mail, out);
    if (out.kind == Outcome::throttled || res.outcome == smtp::Outcome::connection_failed ||
        res.outcome == smtp::Outcome::auth_failed || res.outcome == smtp::Outcome::tls_failed) {
      // The server asked to slow down, or is unusable right now: the rest of the lane waits with
      // the same reason.
      work.settle();
      hold_rest(mails, i + 1, out);
      drop_session(lane.key);
      return;
    }
  }
  work.settle();
}

// Sends one mail in transactions of at most the server's max_recipients, going on from the
// recipients an earlier, interrupted run already served.
QueueRun::Outcome QueueRun::send_one(Lane& lane, bool& refreshed, const Routed& r, Prepared& p, smtp::Result& res,
                                     const std::function<bool()>& before_dot) {
  Transport& transport = lane.transport;
  const std::size_t total = p.recipients.size();
  const std::size_t chunk = transport.max_recipients == 0 ? total : transport.max_recipients;
  std::size_t done = std::min(r.mail.recipients_done, total);
  smtp::Outgoing out{r.envelope, {}, std::move(p.data), before_dot};  // the message is not copied per mail
  while (done < total) {
    const std::size_t end = std::min(total, done + chunk);
    out.recipients.assign(p.recipients.begin() + static_cast<std::ptrdiff_t>(done),
                          p.recipients.begin() + static_cast<std::ptrdiff_t>(end));
    res = session_for(lane.key, transport).send(out);
    if (res.outcome == smtp::Outcome::auth_failed && transport.credentials.kind == smtp::AuthKind::xoauth2 && !refreshed &&
        transport.server_id) {
      // The token may have been revoked or expired early: ask once for a fresh one.
      refreshed = true;
      try {
        transport = server_transport(env_, hooks_, cfg_, *transport.server_id, true);
        drop_session(lane.key);
        res = session_for(lane.key, transport).send(out);
      } catch (const std::exception& e) {
        res.outcome = smtp::Outcome::temporary;
        res.message = e.what();
      }
    }
    if (res.outcome != smtp::Outcome::sent) break;
    done = end;
    if (done < total) {
      Transaction tr(env_.sql());
      mark_recipients_done(env_, r.mail.id, done);
      tr.commit();
    }
  }
  if (done >= total) {
    // A server may refuse some recipients and take the rest: the mail is sent, the refusals noted.
    std::string note;
    for (const auto& a : res.refused_recipients) note += (note.empty() ? "" : ", ") + a;
    if (!note.empty()) note = "sent, but the server refused these recipients: " + note + " (" + res.message + ")";
    return {Outcome::sent, note, transport.server_id, {}, total};
  }
  std::string reason = res.message + " (" + server_label(transport) + (res.transient() ? "; will retry)" : ")");
  if (done > 0) reason += " " + std::to_string(done) + " of " + std::to_string(total) + " recipients already received it.";
  if (res.transient() && (res.code == 432 || res.reply.find("4.3.2") != std::string::npos)) {
    // "Too many messages / connections": the server asks this sender to slow down.
    return {Outcome::throttled,
            reason + " The server asked to slow down: its mails wait a minute, no attempt counted.",
            {},
            std::chrono::seconds(60)};
  }
  if (res.transient()) return {Outcome::retry, reason};
  const bool login = res.outcome == smtp::Outcome::auth_failed;
  if (auto explained = explain_refusal(env_, hooks_, transport, res, login ? std::string() : r.envelope)) {
    return {explained->wait ? Outcome::wait : Outcome::failed, explained->reason + " (" + server_label(transport) + ")",
            transport.server_id};
  }
  return {Outcome::failed, reason};
}

// A paced server takes at most max_per_minute mails in any 60 s and max_recipients_per_day
// recipients in any 24 h, counted over every process from what it sent (plus this run's in
// flight). Past either, the lane's mails wait for the window to move on, without an attempt
// counted, and nothing sleeps holding a claim.
std::optional<QueueRun::Outcome> QueueRun::pace(const Lane& lane, std::size_t recipients) {
  const Transport& tr = lane.transport;
  if (!is_paced(tr)) return std::nullopt;
  const std::int64_t id = *tr.server_id;
  const auto t = now();
  auto held = [&](std::chrono::system_clock::time_point free_at, const std::string& why) {
    const auto wait = std::max(std::chrono::seconds(1), std::chrono::duration_cast<std::chrono::seconds>(free_at - t));
    return Outcome{Outcome::throttled,
                   "paced: " + server_label(tr) + " " + why + "; this mail goes in " + std::to_string(wait.count()) + " s",
                   {},
                   wait};
  };
  std::lock_guard g(pace_mu_);
  InFlight& flying = in_flight_[id];
  if (tr.max_per_minute > 0) {
    const SentSince sent = sent_since(env_, id, t - std::chrono::seconds(60));
    if (sent.count + flying.mails >= tr.max_per_minute) {
      return held(sent.earliest.value_or(t) + std::chrono::seconds(61),
                  "takes at most " + std::to_string(tr.max_per_minute) + " mails per minute (Max Mails per Minute)");
    }
  }
  if (tr.max_recipients_per_day > 0) {
    const SentSince sent = sent_since(env_, id, t - std::chrono::hours(24));
    if (sent.recipients + flying.recipients + recipients > tr.max_recipients_per_day && sent.earliest) {
      return held(
          *sent.earliest + std::chrono::hours(24) + std::chrono::seconds(1),
          "reached its " + std::to_string(tr.max_recipients_per_day) + " recipients per 24 hours (Max Recipients per Day)");
    }
  }
  ++flying.mails;
  flying.recipients += recipients;
  return std::nullopt;
}

void QueueRun::done_pacing(const Lane& lane, std::size_t recipients) {
  const Transport& tr = lane.transport;
  if (!is_paced(tr)) return;
  std::lock_guard g(pace_mu_);
  leave_flight(*tr.server_id, recipients);
}

// A paced mail's outcome is committed and the mail taken out of flight in one step: a lane
// pacing meanwhile sees it either in flight or in the table, never in both (which held back a
// mail the budget had room for).
void QueueRun::record_paced(const Lane& lane, const QueuedMail& m, const Outcome& out, std::size_t recipients) {
  const Transport& tr = lane.transport;
  if (!is_paced(tr)) return record(m, out);
  std::lock_guard g(pace_mu_);
  try {
    record(m, out);
  } catch (...) {
    leave_flight(*tr.server_id, recipients);
    throw;
  }
  leave_flight(*tr.server_id, recipients);
}

void QueueRun::leave_flight(std::int64_t server_id, std::size_t recipients) {
  InFlight& flying = in_flight_[server_id];
  if (flying.mails > 0) --flying.mails;
  flying.recipients -= std::min(flying.recipients, recipients);
}

void QueueRun::hold_rest(std::vector<Routed>& mails, std::size_t from, const Outcome& why) {
  for (std::size_t j = from; j < mails.size(); ++j) record(mails[j].mail, {why.kind, why.reason, why.server_id, why.delay});
}

// Hands one mail to the module of the server's kind (an HTTP mail API instead of SMTP), outside
// any transaction: the module may refresh a token and wait on its service.
QueueRun::Outcome QueueRun::deliver_by_module(const Lane& lane, const Routed& r, const Prepared& p) {
  const Transport& t = lane.transport;
  const auto hidden_from = p.recipients.end() - static_cast<std::ptrdiff_t>(p.hidden);
  nlohmann::json payload = {{"model", kOutgoingServer},
                            {"id", t.server_id.value_or(0)},
                            {"kind", t.kind},
                            {"mail_id", r.mail.id},
                            {"from", r.envelope},
                            {"to", std::vector<std::string>(p.recipients.begin(), hidden_from)},
                            {"bcc", std::vector<std::string>(hidden_from, p.recipients.end())},
                            {"message", p.data}};
  // Attachments left out of the message are lent for the length of the call (ABI 1.6), read
  // from the attachment store a piece at a time.
  for (std::size_t i = 0; i < p.apart.size(); ++i) {
    payload["attachments"].push_back(
        {{"index", i}, {"filename", p.apart[i].filename}, {"content_type", p.apart[i].content_type}, {"size", p.apart[i].size}});
  }
  const modules::AttachmentLoan loan(
      r.mail.id, [this, &p, id = r.mail.id](std::size_t i, std::size_t offset, std::size_t max) -> std::optional<std::string> {
        if (i >= p.apart.size()) return std::nullopt;
        const ApartAttachment& a = p.apart[i];
        if (a.loaded) return a.data.substr(std::min(offset, a.data.size()), max);
        return read_attachment(env_, id, a.index, offset, max);
      });
  const auto res = emit_committed(env_, hooks_, "mail.deliver", payload);
  const std::string where = " (" + server_label(t) + ")";
  if (res.status == JUNIPER_ERR_UNSUPPORTED) {
    return {Outcome::wait,
            "no installed module delivers mail for the authentication \"" + t.kind + "\"" + where +
                ": install the module that provides it, or change the server's authentication",
            t.server_id};
  }
  if (res.status == JUNIPER_ERR_TEMPORARY) return {Outcome::retry, res.error + where};
  if (res.status != JUNIPER_OK) return {Outcome::wait, res.error + where, t.server_id};
  nlohmann::json a;
  try {
    a = nlohmann::json::parse(res.reply_json);
  } catch (const nlohmann::json::exception&) {
    return {Outcome::retry, "the module's answer could not be read" + where};
  }
  const std::string outcome = a.value("outcome", "");
  const std::string reason = a.value("reason", "");
  if (outcome == "sent") return {Outcome::sent, reason, t.server_id, {}, p.recipients.size()};
  if (outcome == "throttled") {
    const auto after = std::chrono::seconds(std::clamp<std::int64_t>(a.value("retry_after", 60), 1, 24 * 3600));
    return {Outcome::throttled, reason + where, {}, after};
  }
  if (outcome == "wait") return {Outcome::wait, reason + where, t.server_id};
  if (outcome == "failed") return {Outcome::failed, reason + where};
  return {Outcome::retry, (reason.empty() ? "the module gave no outcome" : reason) + where};
}

// Records one mail's outcome in its own transaction; a database error ends the run (the claimed
// mails go out again when their lease expires).
void QueueRun::record(const QueuedMail& m, const Outcome& out) {
  Transaction tr(env_.sql());
  std::size_t* counter = &report_.failed;
  switch (out.kind) {
    case Outcome::sent:
      mark_sent(env_, m.id, out.server_id, out.reason, now(), out.recipients);
      counter = &report_.sent;
      break;
    case Outcome::retry:
      if (age_of(m.create_date, now()) > cfg_.max_age) {
        mark_exception(env_, m.id,
                       "gave up: still failing " + std::to_string(cfg_.max_age.count() / 3600) +
                           " hours after it was queued (mail.queue.max_age). Last reason: " + out.reason);
      } else {
        mark_retry(env_, m, out.reason, now());
        counter = &report_.retried;
      }
      break;
    case Outcome::throttled:
      mark_waiting(env_, m, out.reason, out.delay, std::nullopt, now());
      counter = &report_.retried;
      break;
    case Outcome::wait:
      mark_waiting(env_, m, out.reason, kConfigurationWait, out.server_id, now());
      counter = &report_.retried;
      break;
    case Outcome::failed:
      mark_exception(env_, m.id, out.reason);
      break;
  }
  tr.commit();
  std::lock_guard g(mu_);
  ++*counter;
}

// The sent mails the lanes handed over since the last call, in one transaction: with several
// lanes they queued for the write lock one by one at their next dot. A paced server's mails leave
// flight in the same step as their commit (as in record_paced), whether or not it succeeded.
void QueueRun::record_sent(std::vector<Sent>& sent) {
  auto lease = env_.db.lock();  // the committer's own connection
  std::lock_guard g(pace_mu_);
  auto leave = [&] {
    for (const auto& s : sent) {
      if (is_paced(s.lane->transport)) leave_flight(*s.lane->transport.server_id, s.out.recipients);
    }
  };
  try {
    std::lock_guard rows(rows_mu_);
    Transaction tr(env_.sql());
    for (const auto& s : sent) mark_sent(env_, s.mail->id, s.out.server_id, s.out.reason, now(), s.out.recipients);
    tr.commit();
  } catch (...) {
    leave();
    throw;
  }
  leave();
  std::lock_guard c(mu_);
  report_.sent += sent.size();
}

smtp::Session& QueueRun::session_for(const LaneKey& key, const Transport& t) {
  Open* o = nullptr;
  {
    std::lock_guard g(mu_);
    o = &open_[key];  // map nodes stay put: only this lane uses this entry
  }
  const bool same = o->session && o->endpoint.host == t.endpoint.host && o->endpoint.port == t.endpoint.port &&
                    o->endpoint.security == t.endpoint.security && o->credentials.kind == t.credentials.kind &&
                    o->credentials.user == t.credentials.user && o->credentials.secret == t.credentials.secret;
  if (!same) {  // first use, or new settings / a refreshed token: a new connection
    count_connections(*o);
    *o = {t.endpoint, t.credentials, std::make_unique<smtp::Session>(t.endpoint, t.credentials)};
  }
  return *o->session;
}

void QueueRun::drop_session(const LaneKey& key) {
  Open* o = nullptr;
  {
    std::lock_guard g(mu_);
    if (auto it = open_.find(key); it != open_.end()) o = &it->second;
  }
  if (o == nullptr) return;
  count_connections(*o);
  o->session.reset();  // QUIT
}

void QueueRun::count_connections(Open& o) {
  if (!o.session) return;
  const std::size_t n = o.session->connections_opened();
  std::lock_guard g(mu_);
  report_.connections += n;
}

void QueueRun::close_all() {
  for (auto& [key, o] : open_) {
    count_connections(o);
    o.session.reset();  // QUIT
  }
  open_.clear();
}

}  // namespace juniper::mail
