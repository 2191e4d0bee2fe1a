// GMime from several threads at once, in a fresh process each time: GMime 3.2 registers its
// types on first use without a lock, so two threads parsing their first form (two Compose
// uploads) used to crash now and then. Each round forks a child that has never touched GMime;
// its threads start together from a barrier. A separate executable, so no earlier test in the
// process has registered the types already.
#include "mail/mime/form_data.hpp"
#include "mail/mime/message.hpp"

#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

using namespace juniper::mail::mime;

namespace {

constexpr int kThreads = 8;
const std::string kBoundary = "----b";

std::string form_body() {
  return "--" + kBoundary + "\r\nContent-Disposition: form-data; name=\"to\"\r\n\r\nbob@example.com\r\n--" + kBoundary +
         "\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.bin\"\r\n\r\n" + std::string(5000, 'x') + "\r\n--" +
         kBoundary + "--\r\n";
}

// The work of one thread, once released: a form with a file read from a file (fs, cat and pipe
// streams), then a message built and parsed.
bool one_thread_work(FILE* in, FILE* out, std::size_t size) {
  const FormData d = parse_form_data("multipart/form-data; boundary=" + kBoundary, fileno(in), size, [&] { return fileno(out); });
  OutgoingMessage m;
  m.from = "a@example.com";
  m.to = {"b@example.com"};
  m.text_body = "hello";
  const ParsedMessage p = parse(build(m));
  return d.files.size() == 1 && d.files[0].size == 5000 && p.text_body == "hello\n";
}

// A child process: its threads prepare their files, then start on GMime together; exit 0 when
// each did its work.
[[noreturn]] void child() {
  const std::string body = form_body();
  std::atomic<int> ready{0};
  std::atomic<bool> failed{false};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&] {
      FILE* in = std::tmpfile();
      FILE* out = std::tmpfile();
      if (!in || !out || std::fwrite(body.data(), 1, body.size(), in) != body.size() || std::fflush(in) != 0) failed = true;
      ready.fetch_add(1);
      while (ready.load() < kThreads) {
      }
      if (!failed && !one_thread_work(in, out, body.size())) failed = true;
    });
  }
  for (auto& t : threads) t.join();
  std::_Exit(failed ? 1 : 0);
}

}  // namespace

TEST_CASE("GMime's first use from several threads at once is safe (every round a fresh process)", "[threads]") {
  int crashed = 0, wrong = 0;
  for (int round = 0; round < 100; ++round) {
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) child();
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    if (WIFSIGNALED(status)) ++crashed;
    if (WIFEXITED(status) && WEXITSTATUS(status) != 0) ++wrong;
  }
  CHECK(crashed == 0);
  CHECK(wrong == 0);
}
