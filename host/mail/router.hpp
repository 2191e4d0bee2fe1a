// Outgoing-server choice for a sender, with the From header and envelope
// that follow from it (Odoo 17+ ir.mail_server semantics).
#pragma once

#include "mail/from_filter.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace juniper::mail {

struct OutgoingServer {
  std::int64_t id = 0;
  std::string name;
  std::string from_filter;
  int sequence = 10;
  bool active = true;
};

struct RoutingDefaults {
  std::string notification_address;  // already computed, may be empty
  std::string bounce_address;        // may be empty
  std::string default_from_filter;   // mail.default.from_filter or juniper.conf from_filter
};

struct RouteDecision {
  std::optional<std::int64_t> server_id;  // none: no server configured at all
  std::string server_name;
  std::string from_filter;    // the filter in force for the session
  std::string from_header;    // the From header sent (RFC 2047-encoded if needed)
  std::string envelope_from;  // ASCII MAIL FROM
  std::string warning;        // non-empty when no filter matched and a fallback was used
};

// `default_from` if it is a full address, else `default_from@catchall_domain`
// when both are set, else empty.
std::string notification_address(std::string_view default_from, std::string_view catchall_domain);
// `alias@domain` when both are set, else empty.
std::string bounce_address(std::string_view alias, std::string_view domain);

// Immutable once built; route() is O(1) in the number of servers and safe to
// call from several threads.
class Router {
 public:
  explicit Router(std::vector<OutgoingServer> servers, RoutingDefaults defaults);

  // Throws AddressError for a sender with CR/LF/NUL, when there is no sender
  // and no notification address, or when no ASCII envelope can be made.
  RouteDecision route(std::string_view email_from) const;

  std::size_t active_server_count() const noexcept { return active_count_; }

 private:
  // What route() needs about a server, stored in `arena_` followed by the
  // name and from_filter texts and then the server's index keys: a lookup
  // touches an index entry and this one spot of the arena, which keeps the
  // cost flat at 100 000 servers (node-based maps and per-server strings
  // cost several more cache and TLB misses).
  struct Record {
    std::int64_t id = 0;
    std::uint32_t name_size = 0;
    std::uint32_t filter_size = 0;
    bool bounce_matches = false;  // the configured bounce address passes the filter
    bool match_all = false;       // empty filter
  };
  using Offset = std::uint32_t;  // into arena_

  // Open addressing, keys kept first-come: servers are inserted best-first.
  class Index {
   public:
    bool contains(const std::string& arena, std::string_view key) const { return find(arena, key).has_value(); }
    std::optional<Offset> find(const std::string& arena, std::string_view key) const;
    void insert(const std::string& arena, Offset key, Offset record);

   private:
    static constexpr Offset no_record = UINT32_MAX;
    struct Entry {
      std::uint64_t hash = 0;
      Offset key = 0;  // a key is stored as a 4-byte size and its bytes
      Offset record = no_record;
    };
    void grow();

    std::vector<Entry> entries_;  // power-of-two size, at most half full
    std::size_t size_ = 0;
  };

  struct Choice {
    std::optional<Offset> server;  // none: no server at all (step 10)
    bool direct = false;           // the sender's own address or domain matched
    bool use_notif = false;        // send as the notification address
    std::string warning;
  };
  Choice choose(const std::optional<std::string>& sender, std::string_view message_from) const;

  Offset append_record(const OutgoingServer& server, const FromFilter& filter, bool bounce_matches);
  void append_key(Index& index, std::string_view key, Offset record);
  Record record_at(Offset offset) const;

  std::string arena_;
  Index by_address_;  // best server per filter address
  Index by_domain_;   // best server per filter domain
  std::size_t active_count_ = 0;
  std::optional<Offset> fallback_;  // steps 7-9: fixed once the notification address is known
  bool fallback_warns_ = false;     // fallback_ came from step 9

  RoutingDefaults defaults_;
  std::string notif_;  // normalised notification address, may be empty
  std::string notif_header_;
  std::optional<std::string> notif_envelope_;
  std::optional<std::string> bounce_envelope_;
  FromFilter default_filter_;
  bool bounce_matches_default_ = false;
  bool notif_matches_default_ = false;
};

}  // namespace juniper::mail
