// Router::route against a literal port of Odoo's _find_mail_server, which
// re-splits and re-normalises every server's from_filter on every call.
//
//   bench_routing                     table for 10, 1 000 and 100 000 servers
//   bench_routing --json              the same as JSON
//   bench_routing --servers N ...     other sizes (growth is then vs the first)

#include "mail/address.hpp"
#include "mail/router.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace {

using juniper::mail::OutgoingServer;
using juniper::mail::RoutingDefaults;
using Clock = std::chrono::steady_clock;

constexpr double min_seconds = 0.2;
constexpr std::size_t baseline_min_routes = 200;
constexpr std::size_t sender_count = 10'000;
constexpr int ours_trials = 5;
// At 100 000 servers one baseline run of 200 routes already takes seconds.
int baseline_trials(std::size_t servers) { return servers >= 100'000 ? 1 : 3; }

std::vector<std::string> split_filter(std::string_view filter) {
  std::vector<std::string> parts;
  while (true) {
    const auto comma = filter.find(',');
    parts.emplace_back(juniper::mail::detail::trim(filter.substr(0, comma)));
    if (comma == std::string_view::npos) return parts;
    filter = filter.substr(comma + 1);
  }
}

// The baseline: Odoo 17's _find_mail_server step by step, no precomputation.
class OdooLinearScan {
 public:
  OdooLinearScan(std::vector<OutgoingServer> servers, RoutingDefaults defaults)
      : servers_(std::move(servers)), defaults_(std::move(defaults)) {
    // What search([], order='sequence') hands over; ties by id as in the port.
    std::stable_sort(servers_.begin(), servers_.end(), [](const OutgoingServer& a, const OutgoingServer& b) {
      return std::tie(a.sequence, a.id) < std::tie(b.sequence, b.id);
    });
  }

  std::optional<std::int64_t> find_mail_server(std::string_view email_from) const {
    namespace mail = juniper::mail;
    const std::optional<std::string> n_from = mail::email_normalize(email_from);
    const std::optional<std::string> d_from = n_from ? mail::email_domain_extract(*n_from) : std::nullopt;
    const std::optional<std::string> notif = mail::email_normalize(defaults_.notification_address);
    const std::optional<std::string> d_notif = notif ? mail::email_domain_extract(*notif) : std::nullopt;

    std::vector<const OutgoingServer*> active;
    for (const OutgoingServer& s : servers_)
      if (s.active) active.push_back(&s);

    const auto first_match = [&](const std::string& target, auto normaliser) -> const OutgoingServer* {
      for (const OutgoingServer* s : active) {
        if (s->from_filter.empty()) continue;
        for (const std::string& part : split_filter(s->from_filter))
          if (normaliser(part) == target) return s;
      }
      return nullptr;
    };
    const auto by_address = [](std::string_view p) { return mail::email_normalize(p); };
    const auto by_domain = [](std::string_view p) { return mail::email_domain_normalize(p); };

    if (n_from) {
      if (const auto* s = first_match(*n_from, by_address)) return s->id;
      if (const auto* s = d_from ? first_match(*d_from, by_domain) : nullptr) return s->id;
    }
    if (notif) {
      if (const auto* s = first_match(*notif, by_address)) return s->id;
      if (const auto* s = d_notif ? first_match(*d_notif, by_domain) : nullptr) return s->id;
    }
    for (const OutgoingServer* s : active)
      if (s->from_filter.empty()) return s->id;
    if (!active.empty()) return active.front()->id;
    return std::nullopt;
  }

 private:
  std::vector<OutgoingServer> servers_;
  RoutingDefaults defaults_;
};

RoutingDefaults bench_defaults() { return {"notifications@example.com", "bounce@example.com", ""}; }

std::string user(std::mt19937_64& rng) { return "user" + std::to_string(rng() % 1'000'000); }

std::string domain(std::size_t servers, std::mt19937_64& rng) {
  return "d" + std::to_string(rng() % (servers / 20 + 2)) + (rng() % 2 ? ".example" : ".com");
}

// Per-user addresses, domains, comma lists of 2-4 parts, ~10% archived.
std::vector<OutgoingServer> make_servers(std::size_t count, std::mt19937_64& rng) {
  std::vector<OutgoingServer> servers;
  servers.reserve(count);
  servers.push_back({1, "Notifications", "notifications@example.com", 15, true});
  for (std::size_t i = 1; i < count; ++i) {
    const auto id = static_cast<std::int64_t>(i + 1);
    std::string filter;
    const auto kind = rng() % 100;
    if (kind < 60) {
      filter = user(rng) + "@" + domain(count, rng);
    } else if (kind < 85) {
      filter = domain(count, rng);
    } else if (kind < 99 || count < 1000) {
      const auto parts = 2 + rng() % 3;
      for (std::size_t p = 0; p < parts; ++p) {
        filter += p ? (rng() % 2 ? ", " : " ,") : "";
        filter += rng() % 2 ? user(rng) + "@" + domain(count, rng) : domain(count, rng);
      }
    }  // else: no filter
    servers.push_back({id, "server " + std::to_string(id), std::move(filter), static_cast<int>(rng() % 21), rng() % 10 != 0});
  }
  std::shuffle(servers.begin(), servers.end(), rng);
  return servers;
}

std::string dress(std::string address, std::mt19937_64& rng) {
  if (rng() % 5 == 0)  // some mailers upper-case the domain
    std::transform(address.begin() + static_cast<std::ptrdiff_t>(address.find('@')), address.end(),
                   address.begin() + static_cast<std::ptrdiff_t>(address.find('@')),
                   [](char c) { return static_cast<char>(c >= 'a' && c <= 'z' ? c - 32 : c); });
  switch (rng() % 6) {
    case 0:
    case 1:
      return address;
    case 2:
      return "Jane Doe <" + address + ">";
    case 3:
      return "\"Doe, Jane\" <" + address + ">";
    case 4:
      return "\"J. (Q) Doe\" <" + address + ">";
    default:
      return "\"Zoë Müller\" <" + address + ">";
  }
}

// Hits on server addresses, hits on server domains, and misses.
std::vector<std::string> make_senders(const std::vector<OutgoingServer>& servers, std::mt19937_64& rng) {
  std::vector<std::string> senders;
  senders.reserve(sender_count);
  while (senders.size() < sender_count) {
    const OutgoingServer& s = servers[rng() % servers.size()];
    const auto kind = rng() % 10;
    if (kind < 7 && !s.from_filter.empty()) {
      const std::vector<std::string> parts = split_filter(s.from_filter);
      const std::string& part = parts[rng() % parts.size()];
      const bool is_address = part.find('@') != std::string::npos;
      if (kind < 4 && !is_address) continue;  // retry: this slot wants an address hit
      senders.push_back(dress(is_address ? part : user(rng) + "@" + part, rng));
    } else if (kind >= 7) {
      senders.push_back(dress(user(rng) + "@miss" + std::to_string(rng() % 500) + ".net", rng));
    }
  }
  return senders;
}

struct Case {
  std::size_t servers = 0;
  std::size_t active = 0;
  double ours_ns = 0;
  double baseline_ns = 0;
  std::size_t ours_routes = 0;
  std::size_t baseline_routes = 0;
  std::size_t checked = 0;
  std::size_t mismatches = 0;
};

volatile std::size_t sink = 0;

// Median ns/route over `trials` runs of at least min_seconds and min_routes
// each (the machine is shared: one run can be twice as slow as the next);
// every run walks the senders from the start. Returns (median, total routes).
template <typename Route>
std::pair<double, std::size_t> time_routes(const std::vector<std::string>& senders, int trials, std::size_t min_routes,
                                           Route&& route) {
  std::vector<double> per_route;
  std::size_t total = 0;
  for (int t = 0; t < trials; ++t) {
    std::size_t routes = 0;
    std::size_t local = 0;
    const auto start = Clock::now();
    double elapsed = 0;
    do {
      for (std::size_t i = 0; i < 64; ++i, ++routes) local += route(routes % senders.size(), senders[routes % senders.size()]);
      elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    } while (elapsed < min_seconds || routes < min_routes);
    sink = sink + local;
    per_route.push_back(elapsed * 1e9 / static_cast<double>(routes));
    total += routes;
  }
  std::sort(per_route.begin(), per_route.end());
  return {per_route[per_route.size() / 2], total};
}

Case run_case(std::size_t count) {
  std::mt19937_64 rng(20240611 + count);
  const std::vector<OutgoingServer> servers = make_servers(count, rng);
  const std::vector<std::string> senders = make_senders(servers, rng);

  const juniper::mail::Router router(servers, bench_defaults());
  const OdooLinearScan baseline(servers, bench_defaults());

  Case result;
  result.servers = count;
  result.active = router.active_server_count();

  std::tie(result.ours_ns, result.ours_routes) =
      time_routes(senders, ours_trials, senders.size(), [&](std::size_t, const std::string& sender) {
        const auto d = router.route(sender);
        return static_cast<std::size_t>(d.server_id.value_or(0)) + d.from_header.size() + d.envelope_from.size();
      });

  // The baseline's first pass over the senders doubles as the correctness check.
  std::vector<std::optional<std::optional<std::int64_t>>> expected(senders.size());
  const std::size_t baseline_min = std::min(baseline_min_routes, senders.size());
  std::tie(result.baseline_ns, result.baseline_routes) =
      time_routes(senders, baseline_trials(count), baseline_min, [&](std::size_t i, const std::string& sender) {
        const auto id = baseline.find_mail_server(sender);
        expected[i] = id;
        return static_cast<std::size_t>(id.value_or(0));
      });
  // Check every sender when the baseline is cheap enough; at 100 000 servers
  // only the senders it was timed on (the list is in random order).
  const std::size_t check_all = count <= 10'000 ? senders.size() : 0;
  for (std::size_t i = 0; i < senders.size(); ++i) {
    if (!expected[i] && i < check_all) expected[i] = baseline.find_mail_server(senders[i]);
    if (!expected[i]) continue;
    ++result.checked;
    if (router.route(senders[i]).server_id != *expected[i]) ++result.mismatches;
  }
  return result;
}

}  // namespace

int main(int argc, char** argv) {
  bool json = false;
  std::vector<std::size_t> sizes;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--json") == 0) {
      json = true;
    } else if (std::strcmp(argv[i], "--servers") == 0 && i + 1 < argc && std::atol(argv[i + 1]) > 0) {
      sizes.push_back(static_cast<std::size_t>(std::atol(argv[++i])));
    } else {
      std::fprintf(stderr, "usage: %s [--json] [--servers N]...\n", argv[0]);
      return 2;
    }
  }
  if (sizes.empty()) sizes = {10, 1'000, 100'000};

  std::vector<Case> cases;
  for (std::size_t count : sizes) {
    if (!json) std::fprintf(stderr, "measuring %zu servers...\n", count);
    cases.push_back(run_case(count));
  }

  const double ours_first = cases.front().ours_ns;
  const double baseline_first = cases.front().baseline_ns;
  std::size_t mismatches = 0;
  if (json) {
    std::printf("{\"sender_count\": %zu, \"growth_relative_to_servers\": %zu, \"cases\": [", sender_count, cases.front().servers);
    for (std::size_t i = 0; i < cases.size(); ++i) {
      const Case& c = cases[i];
      std::printf(
          "%s\n  {\"servers\": %zu, \"active_servers\": %zu, \"ours_ns_per_route\": %.1f, "
          "\"baseline_ns_per_route\": %.1f, \"ratio\": %.1f, \"ours_growth\": %.2f, "
          "\"baseline_growth\": %.1f, \"ours_routes\": %zu, \"baseline_routes\": %zu, "
          "\"ours_trials\": %d, \"baseline_trials\": %d, \"checked\": %zu, \"mismatches\": %zu}",
          i ? "," : "", c.servers, c.active, c.ours_ns, c.baseline_ns, c.baseline_ns / c.ours_ns, c.ours_ns / ours_first,
          c.baseline_ns / baseline_first, c.ours_routes, c.baseline_routes, ours_trials, baseline_trials(c.servers), c.checked,
          c.mismatches);
      mismatches += c.mismatches;
    }
    std::printf("\n]}\n");
  } else {
    const std::string growth = "growth vs " + std::to_string(cases.front().servers);
    std::printf("%8s | %14s | %18s | %12s | %16s\n", "servers", "ours ns/route", "baseline ns/route", "ratio", growth.c_str());
    std::printf("---------+----------------+--------------------+--------------+-----------------\n");
    for (const Case& c : cases)
      std::printf("%8zu | %14.1f | %18.1f | %11.1fx | %15.2fx\n", c.servers, c.ours_ns, c.baseline_ns, c.baseline_ns / c.ours_ns,
                  c.ours_ns / ours_first);
    std::printf(
        "median of %d runs (baseline: 3, 1 at 100000 servers), each >= %.1f s; ratio = baseline/ours; "
        "growth = ours vs the first size\n",
        ours_trials, min_seconds);
    for (const Case& c : cases) {
      std::printf(
          "%zu servers (%zu active): %zu/%zu routes timed (ours/baseline), mismatches %zu of %zu "
          "senders checked\n",
          c.servers, c.active, c.ours_routes, c.baseline_routes, c.mismatches, c.checked);
      mismatches += c.mismatches;
    }
  }
  return mismatches == 0 ? 0 : 1;
}
