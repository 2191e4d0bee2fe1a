#include "cli/commands.hpp"

#include <malloc.h>

#include <cstdlib>

int main(int argc, char** argv) {
  // glibc hands memory back as soon as 128 kB sit free at the top of a heap (and, adapting, maps
  // bigger blocks on their own): sending, each ~40 kB body is loaded, built, written and freed,
  // so the next mail faulted the same pages in again (30 faults and 0.35 ms of CPU per mail, a
  // third of `mail process`). Keeping up to 2 MB free per heap and mapping only blocks over
  // 512 kB costs ~1 MB of peak RSS (bench/run rss).
  ::mallopt(M_TRIM_THRESHOLD, 2 << 20);
  ::mallopt(M_MMAP_THRESHOLD, 512 << 10);
  // libcurl (OpenSSL) maps GnuTLS for RTMP and LDAP, which Juniper never uses; its constructor
  // would load the p11-kit trust modules (~0.9 MB) when libcurl is loaded. Set here, before any
  // thread exists; an administrator's own value is kept.
  ::setenv("GNUTLS_NO_IMPLICIT_INIT", "1", 0);
  return juniper::cli::run(argc, argv);
}
