// Internal to the MIME layer: owning pointers for GLib/GMime objects.
#pragma once

#include <gmime/gmime.h>

#include <memory>

namespace juniper::mail::mime {

struct GUnref {
  void operator()(gpointer p) const noexcept { g_object_unref(p); }
};
template <class T>
using GRef = std::unique_ptr<T, GUnref>;
struct GFree {
  void operator()(void* p) const noexcept { g_free(p); }
};
using GText = std::unique_ptr<char, GFree>;

}  // namespace juniper::mail::mime
