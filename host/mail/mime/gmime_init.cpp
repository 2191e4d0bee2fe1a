#include "mail/mime/gmime_init.hpp"

#include <gmime/gmime.h>

#include <mutex>

namespace juniper::mail::mime {

void init_gmime() {
  static std::once_flag once;
  std::call_once(once, [] { g_mime_init(); });
}

}  // namespace juniper::mail::mime
