// SQLite takes one writer at a time and, left to itself, makes the others nap and poll (1, 2, 5
// ... 100 ms), which capped parallel sending. This process's writers queue on the database's
// write gate instead and go the moment the writer before them ends.
#include "db/database.hpp"
#include "test_host.hpp"

#include <catch2/catch.hpp>

#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <string>
#include <thread>

namespace {

// Whether thread `tid` of this process is blocked in futex(2) (waiting on a mutex).
bool in_futex(long tid) {
  std::ifstream in("/proc/self/task/" + std::to_string(tid) + "/syscall");
  long nr = -1;
  return (in >> nr) && nr == SYS_futex;
}

}  // namespace

TEST_CASE("A second writer of the process waits for the first one's commit, not for SQLite's busy timeout", "[db]") {
  juniper::test::TestHost t;
  juniper::Database& db = t.host->db();
  if (db.is_postgres()) return;  // PostgreSQL has row locks and no such gate
  {
    auto lease = db.lock();
    db.session() << "CREATE TABLE gate_test (n INTEGER)";
  }
  std::atomic<long> second_tid{0};
  std::atomic<bool> second_failed{false};
  std::atomic<bool> second_done{false};
  std::string second_error;

  std::thread second;
  {
    auto lease = db.lock();
    juniper::Transaction first(db.session());
    db.session() << "INSERT INTO gate_test (n) VALUES (1)";
    second = std::thread([&] {
      try {
        auto l = db.lock();
        // Without the gate, this connection would fail at once with "database is locked".
        db.session() << "PRAGMA busy_timeout=0";
        second_tid = static_cast<long>(::syscall(SYS_gettid));
        juniper::Transaction tr(db.session());
        db.session() << "INSERT INTO gate_test (n) VALUES (2)";
        tr.commit();
        db.session() << "PRAGMA busy_timeout=30000";
      } catch (const std::exception& e) {
        second_error = e.what();
        second_failed = true;
      }
      second_done = true;
    });
    // The first commits once the second is waiting on the gate (or has failed without it).
    while (!second_failed && !(second_tid != 0 && in_futex(second_tid))) std::this_thread::yield();
    first.commit();
  }
  second.join();
  INFO(second_error);
  CHECK_FALSE(second_failed);
  auto lease = db.lock();
  int rows = 0;
  db.session() << "SELECT COUNT(*) FROM gate_test", soci::into(rows);
  CHECK(rows == 2);
}
