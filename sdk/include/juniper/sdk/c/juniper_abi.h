/* Juniper module ABI: the basic C types every other contract header uses.
 *
 * Rules of this boundary (read once, then trust them everywhere):
 *  - only C types cross: fixed-width integers, (pointer, size) strings, C function pointers,
 *    opaque handles owned by the host;
 *  - every struct that may grow starts with `uint32_t struct_size` and only grows at its end;
 *  - strings passed in either direction are borrowed for the duration of the call: the receiver
 *    copies what it keeps;
 *  - no exception crosses: failures are a juniper_status plus a message the host copies.
 */
#ifndef JUNIPER_SDK_C_JUNIPER_ABI_H
#define JUNIPER_SDK_C_JUNIPER_ABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
#define JUNIPER_EXTERN_C extern "C"
#else
#define JUNIPER_EXTERN_C
#endif

/* Major: breaking change (it is part of the entry symbol's name). Minor: additive only.
 * 1.1: juniper_selection_extension_desc.checkbox_label; host table smtp_open, smtp_send,
 *      smtp_close, imap_check.
 * 1.2: host table claim_acquire, claim_release.
 * 1.3: host table http_request, message_store; juniper_field_desc.shown_if; the answer
 *      {"delivery": "module"} of mail.transport / mail.fetch.login and the hooks mail.deliver,
 *      mail.collect, mail.check, mail.refused (juniper_mail.h).
 * 1.4: JUNIPER_FIELD_BADGE and juniper_field_desc.selection_tones (status badges declared by
 *      the module); http_request answers JUNIPER_ERR_INVALID past 16 MB; host table
 *      mail_release; mail.refused for mails refused for good ("stage": "mail"); the hook
 *      admin.warnings (juniper_mail.h).
 * 1.5: action flags JUNIPER_ACTION_NETWORK and JUNIPER_ACTION_HIDDEN; action follow-ups (the
 *      answer's "continue", juniper_registrar.h); computed read-only settings
 *      (juniper_setting_desc.compute).
 * 1.6: mail.transport's "attachments_apart_above", mail.deliver's "attachments" and the host
 *      table's mail_attachment_read (messages larger than a mail API takes in one request).
 * 1.7: mail.transport's "message_max" (the host hands apart the largest attachments until the
 *      message fits); record.changed's "fields".
 * 1.8: host table response_page (a module route's page rendered by the host's templates).
 * 1.9: route flag JUNIPER_ROUTE_NETWORK (a route waiting on the network runs outside any
 *      transaction; a 1.8 host runs it in one, as before); host table sign (MACs under a key
 *      of the module's own, so no module needs the host's secret); juniper_records.h (the
 *      host's record types, fields, setting and parameter names modules may rely on, and which
 *      threads call a module). */
#define JUNIPER_ABI_MAJOR 1
#define JUNIPER_ABI_MINOR 9

#define JUNIPER_MODULE_EXPORT JUNIPER_EXTERN_C __attribute__((visibility("default")))

typedef int32_t juniper_status;
#define JUNIPER_OK 0
#define JUNIPER_ERR_INVALID 1 /* bad input, refused by a constraint */
#define JUNIPER_ERR_NOT_FOUND 2
#define JUNIPER_ERR_DENIED 3 /* access rights */
#define JUNIPER_ERR_CONFLICT 4
#define JUNIPER_ERR_UNSUPPORTED 5 /* not this handler's business (hooks: pass to the next) */
#define JUNIPER_ERR_TEMPORARY 6   /* retry later (network, 5xx, timeouts) */
#define JUNIPER_ERR_INTERNAL 7

/* A borrowed string: not necessarily NUL-terminated. */
typedef struct juniper_str {
  const char* data;
  size_t size;
} juniper_str;

/* Where the host writes a string for the module (the module copies it inside `write`). */
typedef struct juniper_sink {
  void* user;
  void (*write)(void* user, const char* data, size_t size);
} juniper_sink;

/* A failure report. Whoever makes a call owns the juniper_error it passes (NULL: not wanted);
 * the callee fills it with host_api->error_set, which stores the code and writes the message
 * into `message` (the caller copies it there). */
typedef struct juniper_error {
  uint32_t struct_size;
  juniper_status code;
  juniper_sink message;
} juniper_error;

/* Opaque, host-owned handles. */
typedef struct juniper_ctx juniper_ctx;             /* one call's context: user, transaction */
typedef struct juniper_registrar juniper_registrar; /* valid only during declare() */
typedef struct juniper_reply juniper_reply;         /* an action's or a hook's answer */
typedef struct juniper_http_request juniper_http_request;
typedef struct juniper_http_response juniper_http_response;

#endif
