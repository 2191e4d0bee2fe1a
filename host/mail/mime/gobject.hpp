// Internal to the MIME layer: owning pointers for GLib/GMime objects, and what both the message
// and the form reader ask of a part's content.
#pragma once

#include <gmime/gmime.h>

#include <cstddef>
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

// How many bytes the decoded content has, found without holding it (a null stream counts).
inline std::size_t decoded_size(GMimeDataWrapper* content) {
  if (!content) return 0;
  GRef<GMimeStream> counter(g_mime_stream_null_new());
  g_mime_data_wrapper_write_to_stream(content, counter.get());
  return static_cast<std::size_t>(GMIME_STREAM_NULL(counter.get())->written);
}

}  // namespace juniper::mail::mime
