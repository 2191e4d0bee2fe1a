/* The one thing a module library exports.
 *
 *   JUNIPER_MODULE_EXPORT const juniper_module_descriptor* juniper_module_get_descriptor_v1(void);
 *
 * It must be free of side effects and return a pointer to a static descriptor. The host reads
 * the manifest beside the library first (<name>.json), loads the library, calls this function,
 * checks ABI major/minor and that descriptor and manifest agree, and only then calls declare().
 *
 * Lifecycle: declare (record types, settings, actions, routes, hooks; may be called again when
 * the registry is rebuilt, so it keeps no state) -> install (once, in the install transaction)
 * -> start -> ... -> stop (join every thread started in start). uninstall runs in the uninstall
 * transaction, before the host drops what the module owns. Libraries are never unloaded while
 * the process runs.
 */
#ifndef JUNIPER_SDK_C_JUNIPER_MODULE_H
#define JUNIPER_SDK_C_JUNIPER_MODULE_H

#include "juniper_host.h"

typedef struct juniper_module_descriptor {
  uint32_t struct_size;
  uint32_t abi_major;
  uint32_t abi_minor;
  const char* name;         /* technical name, e.g. "microsoft_outlook" */
  const char* display_name; /* e.g. "Microsoft Outlook" */
  const char* version;      /* e.g. "1.0.0" */
  const char* summary;
  const char* const* depends; /* NULL-terminated list of module names; NULL: none */

  juniper_status (*declare)(const juniper_host_api* host, juniper_registrar* reg, juniper_error* err);
  juniper_status (*start)(const juniper_host_api* host, juniper_ctx* ctx, juniper_error* err);
  void (*stop)(void);
  juniper_status (*install)(juniper_ctx* ctx, juniper_error* err);   /* optional (NULL) */
  juniper_status (*uninstall)(juniper_ctx* ctx, juniper_error* err); /* optional (NULL) */
  /* v1.0 ends here; append only. */
} juniper_module_descriptor;

#define JUNIPER_MODULE_ENTRY_SYMBOL "juniper_module_get_descriptor_v1"

typedef const juniper_module_descriptor* (*juniper_module_get_descriptor_fn)(void);

#endif
