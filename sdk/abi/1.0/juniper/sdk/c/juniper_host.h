/* The services the host offers a module: one append-only function table.
 *
 * A module checks `struct_size` before using a member added after the minor it was built
 * against (JUNIPER_HOST_HAS). Every call that takes a juniper_ctx runs in that context's
 * transaction and with that context's user rights.
 */
#ifndef JUNIPER_SDK_C_JUNIPER_HOST_H
#define JUNIPER_SDK_C_JUNIPER_HOST_H

#include "juniper_registrar.h"

#define JUNIPER_LOG_DEBUG 0
#define JUNIPER_LOG_INFO 1
#define JUNIPER_LOG_WARNING 2
#define JUNIPER_LOG_ERROR 3

/* What juniper_host_api.request_get reads. */
#define JUNIPER_REQUEST_METHOD 1
#define JUNIPER_REQUEST_PATH 2
#define JUNIPER_REQUEST_QUERY 3  /* a decoded query parameter, by name */
#define JUNIPER_REQUEST_FORM 4   /* a decoded form field (POST x-www-form-urlencoded), by name */
#define JUNIPER_REQUEST_HEADER 5 /* by name, case-insensitive */
#define JUNIPER_REQUEST_BODY 6
#define JUNIPER_REQUEST_FULL_URL 7 /* path and query, as received */

typedef struct juniper_host_api {
  uint32_t struct_size;
  uint32_t abi_major;
  uint32_t abi_minor;

  const juniper_registrar_api* registrar;

  /* Errors and logs: the host copies the message. Never pass a secret. */
  void (*error_set)(juniper_error* err, juniper_status code, juniper_str message);
  void (*log)(juniper_ctx* ctx, int32_t level, juniper_str message);

  /* Context: {"user": "admin", "is_admin": true, "module": "microsoft_outlook"} */
  juniper_status (*ctx_info)(juniper_ctx* ctx, juniper_sink* out_json, juniper_error* err);

  /* System parameters (ir.config_parameter). param_get answers JUNIPER_ERR_NOT_FOUND when unset.
   * Secret settings are decrypted for the module. */
  juniper_status (*param_get)(juniper_ctx* ctx, juniper_str key, juniper_sink* out,
                              juniper_error* err);
  juniper_status (*param_set)(juniper_ctx* ctx, juniper_str key, juniper_str value,
                              juniper_error* err);

  /* Records, as JSON objects ({"id": 3, "name": "..."}). Writes run constraints and
   * change-defaults like every other writer. Secrets are plain text on this side. */
  juniper_status (*record_read)(juniper_ctx* ctx, juniper_str model, int64_t id,
                                juniper_sink* out_json, juniper_error* err);
  /* filter_json: {"field": value, ...} (equality, AND); out: JSON array of ids, in model order */
  juniper_status (*record_search)(juniper_ctx* ctx, juniper_str model, juniper_str filter_json,
                                  juniper_sink* out_json, juniper_error* err);
  juniper_status (*record_create)(juniper_ctx* ctx, juniper_str model, juniper_str values_json,
                                  int64_t* out_id, juniper_error* err);
  juniper_status (*record_write)(juniper_ctx* ctx, juniper_str model, int64_t id,
                                 juniper_str values_json, juniper_error* err);
  juniper_status (*record_delete)(juniper_ctx* ctx, juniper_str model, int64_t id,
                                  juniper_error* err);

  /* Answers of actions and hooks. */
  void (*reply_json)(juniper_reply* reply, juniper_str json);

  /* HTTP requests (borrowed during the route call) and responses. */
  juniper_status (*request_get)(const juniper_http_request* request, int32_t what, juniper_str name,
                                juniper_sink* out);
  void (*response_status)(juniper_http_response* response, int32_t status);
  void (*response_header)(juniper_http_response* response, juniper_str name, juniper_str value);
  void (*response_body)(juniper_http_response* response, juniper_str body);
  /* v1.0 ends here; append only. */
} juniper_host_api;

/* Whether `api` is new enough to have `member` (OBS's HAS_VAL). */
#define JUNIPER_HOST_HAS(api, member)                                                         \
  ((api)->struct_size >= offsetof(juniper_host_api, member) + sizeof((api)->member))

#endif
