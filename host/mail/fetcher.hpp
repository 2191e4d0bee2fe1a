// Fetches incoming mail: per confirmed server, UID SEARCH UNSEEN, a batch fetched with
// BODY.PEEK (nothing marked read early), parsed with GMime and stored; \Seen is set on the
// batch only after the messages are committed. A message that cannot be parsed is stored raw
// with the parse error; one already stored (same Message-ID, same server) is not stored twice.
#pragma once

#include "modules/hook_bus.hpp"
#include "records/env.hpp"

#include <map>

namespace juniper::mail {

struct FetchReport {
  std::size_t servers = 0;
  std::size_t stored = 0;
  std::size_t duplicates = 0;
  std::size_t skipped = 0;  // left unread at the provider (too large to take), named in the log
  std::size_t failed_servers = 0;
};

// All confirmed, active servers (or just `only`); errors are recorded on the server record.
FetchReport fetch_all(records::Env& env, modules::HookBus& hooks, const std::map<std::string, std::string>& conf,
                      std::optional<std::int64_t> only = std::nullopt);

// Stores one raw message for an incoming server and commits it; false when it was already
// stored. Behind the host call message_store, for modules that fetch through an API.
bool store_committed(records::Env& env, std::int64_t server_id, std::string_view raw);

// "Test & Confirm": connect, authenticate, SELECT INBOX, then state = done. Throws UserError.
std::string confirm_login(records::Env& env, modules::HookBus& hooks, const std::map<std::string, std::string>& conf,
                          std::int64_t server_id);

}  // namespace juniper::mail
