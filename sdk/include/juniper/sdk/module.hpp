// The whole of what a module author needs:
//
//   #include <juniper/sdk/module.hpp>
//   struct Hello {
//     static constexpr const char* name = "hello";            // technical name (= manifest)
//     static constexpr const char* display_name = "Hello";
//     static constexpr const char* version = "1.0.0";
//     static constexpr const char* summary = "Says hello";
//     static constexpr const char* depends[] = {nullptr};     // NULL-terminated
//     static void declare(juniper::sdk::Registrar& reg);      // record types, settings, routes...
//     // optional: start(Context&), stop(), install(Context&), uninstall(Context&)
//   };
//   JUNIPER_MODULE(Hello)
//
// Exceptions thrown by any of these become a status and a message; none crosses the boundary.
#pragma once

#include <juniper/sdk/c/juniper_module.h>
#include <juniper/sdk/registrar.hpp>

namespace juniper::sdk::detail {

template <class M>
juniper_status declare(const juniper_host_api* api, juniper_registrar* reg, juniper_error* err) {
  g_host = api;
  return guard(err, [&] {
    Registrar r(api, reg);
    M::declare(r);
  });
}

template <class M>
juniper_status start(const juniper_host_api* api, juniper_ctx* ctx, juniper_error* err) {
  g_host = api;
  return guard(err, [&] {
    if constexpr (requires(Context & c) { M::start(c); }) {
      Context c(ctx);
      M::start(c);
    }
  });
}

template <class M>
void stop() {
  if constexpr (requires { M::stop(); }) {
    try {
      M::stop();
    } catch (...) {  // stop() must not throw across the boundary; nothing useful to report
    }
  }
}

template <class M>
juniper_status install(juniper_ctx* ctx, juniper_error* err) {
  return guard(err, [&] {
    Context c(ctx);
    M::install(c);
  });
}

template <class M>
juniper_status uninstall(juniper_ctx* ctx, juniper_error* err) {
  return guard(err, [&] {
    Context c(ctx);
    M::uninstall(c);
  });
}

template <class M>
const juniper_module_descriptor* descriptor() noexcept {
  static const juniper_module_descriptor d = [] {
    juniper_module_descriptor x{};
    x.struct_size = sizeof x;
    x.abi_major = JUNIPER_ABI_MAJOR;
    x.abi_minor = JUNIPER_ABI_MINOR;
    x.name = M::name;
    x.display_name = M::display_name;
    x.version = M::version;
    x.summary = M::summary;
    x.depends = M::depends;
    x.declare = &declare<M>;
    x.start = &start<M>;
    x.stop = &stop<M>;
    if constexpr (requires(Context & c) { M::install(c); }) x.install = &install<M>;
    if constexpr (requires(Context & c) { M::uninstall(c); }) x.uninstall = &uninstall<M>;
    return x;
  }();
  return &d;
}

}  // namespace juniper::sdk::detail

#define JUNIPER_MODULE(ModuleClass)                                                               \
  JUNIPER_MODULE_EXPORT const juniper_module_descriptor* juniper_module_get_descriptor_v1(void) { \
    return ::juniper::sdk::detail::descriptor<ModuleClass>();                                     \
  }
