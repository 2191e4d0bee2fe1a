// Actions whose work ends later (a sign-in on another device): the first answer says what the
// person must do and asks, through "continue", to be followed up by another action of the same
// record until it is no longer pending (SDK 1.5, juniper_registrar.h). The command line follows
// up in the foreground; `serve` in the background (web/follow_ups.hpp).
#pragma once

#include "app/host.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <stop_token>
#include <string>

namespace juniper::app {

struct FollowUp {
  std::string action;
  std::chrono::seconds after{5};
  std::chrono::system_clock::time_point until;
};

// The follow-up an answer asks for, bounded (1 s to 1 min between runs, at most 1 hour in all).
// nullopt when there is none; UserError when it names no action of `model`.
std::optional<FollowUp> follow_up_of(const records::Registry& registry, const std::string& model, const nlohmann::json& answer,
                                     std::chrono::system_clock::time_point now);
bool is_pending(const nlohmann::json& answer);
bool is_failure(const nlohmann::json& answer);
// The answer as shown to people: without the host's keys ("continue", "pending", "failed", "after").
nlohmann::json shown(nlohmann::json answer);
// The sentence a page shows for an answer: its "message", else its "reason", else `fallback`.
std::string sentence(const nlohmann::json& answer, const std::string& fallback);

// Runs one action on one record as `user`: in a transaction, or outside any (own_transactions,
// network actions), with a connection leased for the call only.
nlohmann::json invoke_action(Host& host, const records::User& user, const std::string& model, std::int64_t id,
                             const std::string& action);

// Waits `after` between runs (returns false when stopped). Injected so tests need not wait.
using Pause = std::function<bool(std::chrono::seconds, std::stop_token)>;
bool real_pause(std::chrono::seconds after, std::stop_token stop);

// Runs the follow-up until its answer is no longer pending, `until` passes or `stop` is
// requested. Returns the outcome: the last answer, or a failure saying the time ran out or the
// run was stopped. An action that throws is the outcome too (a temporary failure is pending).
nlohmann::json follow(Host& host, const records::User& user, const std::string& model, std::int64_t id, FollowUp f,
                      std::stop_token stop, const Pause& pause = real_pause);

}  // namespace juniper::app
