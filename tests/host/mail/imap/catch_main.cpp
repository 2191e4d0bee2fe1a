// Catch2 runner that stops the mail stack (if this run started one) after the tests.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "mailstack.hpp"

#include <csignal>
#include <cstdlib>

namespace {
extern "C" void on_signal(int sig) {
  // Not async-signal-safe, but it is a test run being interrupted: better to stop the
  // daemons than to leave them running.
  juniper::test::MailStack::shutdown();
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}
}  // namespace

int main(int argc, char* argv[]) {
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  int rc = Catch::Session().run(argc, argv);
  juniper::test::MailStack::shutdown();
  return rc;
}
