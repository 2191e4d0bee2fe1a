// One `Sender::process`: claims due mails in batches, routes each at send time, groups them by
// (server, envelope sender), splits each group into lanes (up to the server's max_connections),
// and sends the lanes in parallel, each over its own SMTP session kept for the whole run.
// Each mail's outcome is recorded in its own short transaction; no transaction is open during
// network I/O, and one mail's problem is that mail's outcome, never the run's.
#pragma once

#include "mail/config.hpp"
#include "mail/prepare.hpp"
#include "mail/queue.hpp"
#include "mail/sender.hpp"
#include "mail/transport.hpp"

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <unordered_set>

namespace juniper::mail {

template <class Item>
class GroupCommit;

class QueueRun {
 public:
  QueueRun(records::Env& env, modules::HookBus& hooks, const std::map<std::string, std::string>& conf,
           const SenderOptions& options);
  ~QueueRun();
  QueueRun(const QueueRun&) = delete;
  QueueRun& operator=(const QueueRun&) = delete;

  SendReport run();

 private:
  struct Routed {
    QueuedMail mail;
    std::string from_header;
    std::string envelope;
  };
  using GroupKey = std::pair<std::int64_t, std::string>;  // (server id or 0, envelope sender)
  using LaneKey = std::tuple<std::int64_t, std::string, std::size_t>;
  struct Lane {
    LaneKey key;
    Transport transport;
    std::vector<Routed> mails;
  };
  // What happened to one mail, decided without touching the database.
  struct Outcome {
    enum Kind { sent, retry, throttled, wait, failed } kind = sent;
    std::string reason;
    std::optional<std::int64_t> server_id;  // sent: through which server; wait: whose fix it waits for
    std::chrono::seconds delay{0};          // throttled: how long the server asked to wait
    std::size_t recipients = 0;             // sent: to how many (the daily budget)
  };
  struct InFlight {  // a paced server's mails being sent by this run
    std::size_t mails = 0;
    std::size_t recipients = 0;
  };
  struct Open {  // an SMTP session kept across batches: one connection per lane per run
    smtp::Endpoint endpoint;
    smtp::Credentials credentials;
    std::unique_ptr<smtp::Session> session;
  };

  struct Sent {  // a sent mail's outcome, handed to the run's committer
    const Lane* lane;
    const QueuedMail* mail;
    Outcome out;
  };

  class LaneWork;  // a lane's helper thread and the messages and outcome it has in hand
  struct Paced;

  std::chrono::system_clock::time_point now() const;
  std::vector<QueuedMail> claim_batch(std::size_t n);
  bool keep_lease(std::int64_t mail_id);
  std::map<GroupKey, std::vector<Routed>> route(std::vector<QueuedMail> claimed);
  void add_lanes(const GroupKey& key, std::vector<Routed> mails, std::vector<Lane>& lanes);
  void run_lanes(std::vector<Lane>& lanes);
  void send_lane(Lane& lane);
  Outcome send_one(Lane& lane, bool& refreshed, const Routed& r, Prepared& p, smtp::Result& res,
                   const std::function<bool()>& before_dot);
  Outcome deliver_by_module(const Lane& lane, const Routed& r, const Prepared& p);
  std::optional<Outcome> pace(const Lane& lane, std::size_t recipients);
  void done_pacing(const Lane& lane, std::size_t recipients);
  void record_paced(const Lane& lane, const QueuedMail& m, const Outcome& out, std::size_t recipients);
  void leave_flight(std::int64_t server_id, std::size_t recipients);  // pace_mu_ held
  void hold_rest(std::vector<Routed>& mails, std::size_t from, const Outcome& why);
  void record(const QueuedMail& m, const Outcome& out);
  void record_sent(std::vector<Sent>& sent);
  smtp::Session& session_for(const LaneKey& key, const Transport& t);
  void drop_session(const LaneKey& key);
  void close_all();
  void count_connections(Open& o);

  records::Env& env_;
  modules::HookBus& hooks_;
  SenderOptions options_;
  std::string owner_;
  MailConfig cfg_;
  std::optional<Router> router_;
  std::chrono::seconds lease_{60};
  std::mutex mu_;       // guards the report, the lease clock and the map of open sessions
  std::mutex pace_mu_;  // guards in_flight_; taken before mu_, never after
  // Held by each transaction that writes several of this run's claimed rows (a lease renewal, a
  // group commit; taken after mu_ or pace_mu_, never before): on PostgreSQL two of them would
  // lock the same rows in different orders and deadlock.
  std::mutex rows_mu_;
  std::chrono::steady_clock::time_point lease_renewed_;
  std::unordered_set<std::int64_t> held_;  // mails whose lease is this run's (as of lease_renewed_)
  std::map<LaneKey, Open> open_;
  std::map<std::int64_t, InFlight> in_flight_;
  SendReport report_;
  std::unique_ptr<GroupCommit<Sent>> committer_;  // last: its thread uses the members above
};

}  // namespace juniper::mail
