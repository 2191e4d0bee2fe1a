// Ad-hoc throughput figure, not an assertion: test_mail_smtp "[.bench]"
// (JUNIPER_SMTP_BENCH_COUNT, default 2000; ~43 kB per message; one session, XOAUTH2).
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>

#include "mail/smtp/session.hpp"
#include "mailstack.hpp"

using namespace juniper::mail::smtp;
using juniper::test::MailStack;
using juniper::test::test_message;
using juniper::test::unique_address;

TEST_CASE("throughput: ~43 kB messages over one XOAUTH2 session", "[.bench]") {
  MailStack& stack = MailStack::get();
  int count = 2000;
  if (const char* c = std::getenv("JUNIPER_SMTP_BENCH_COUNT"); c && *c) count = std::atoi(c);
  const std::string user = unique_address("bench");
  const std::string rcpt = unique_address("bench-rcpt");
  Endpoint e{"127.0.0.1", stack.port("SMTP_PORT"), Security::starttls, stack["CA_FILE"], std::chrono::seconds(30)};
  Session session(e, {AuthKind::xoauth2, user, stack.smtp_token(user)});

  // Sizes 2-200 kB, log-uniform (mean ~43 kB), prebuilt so only the send is timed.
  std::mt19937 rng(42);
  std::uniform_real_distribution<double> logsize(std::log(2000.0), std::log(200000.0));
  std::vector<Outgoing> mails;
  std::size_t bytes = 0;
  for (int i = 0; i < 200; ++i) {
    const auto size = static_cast<std::size_t>(std::exp(logsize(rng)));
    mails.push_back({user, {rcpt}, test_message(user, rcpt, "bench " + std::to_string(i), size)});
  }
  std::vector<double> ms;
  ms.reserve(static_cast<std::size_t>(count));
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < count; ++i) {
    const Outgoing& m = mails[static_cast<std::size_t>(i) % mails.size()];
    bytes += m.data.size();
    const auto s0 = std::chrono::steady_clock::now();
    const Result r = session.send(m);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - s0).count());
    if (r.outcome != Outcome::sent) FAIL(i << ": " << r.message);
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (const char* csv = std::getenv("JUNIPER_SMTP_BENCH_CSV"); csv && *csv) {
    if (FILE* f = std::fopen(csv, "w")) {
      for (int i = 0; i < count; ++i)
        std::fprintf(f, "%zu,%.3f\n", mails[static_cast<std::size_t>(i) % mails.size()].data.size(),
                     ms[static_cast<std::size_t>(i)]);
      std::fclose(f);
    }
  }
  std::sort(ms.begin(), ms.end());
  auto pct = [&](double p) { return ms[static_cast<std::size_t>(p * static_cast<double>(ms.size() - 1))]; };
  std::printf("per send: p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms\n", pct(0.5), pct(0.9), pct(0.99), ms.back());
  std::printf("SMTP throughput: %d messages, mean %.1f kB, %.2f s, %.1f msgs/s, %.1f MB/s, %zu connection(s)\n", count,
              static_cast<double>(bytes) / count / 1000.0, secs, count / secs, static_cast<double>(bytes) / secs / 1e6,
              session.connections_opened());
  CHECK(session.connections_opened() == 1);
}
