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

/* A host-owned SMTP session (ABI 1.1): opened with smtp_open, closed with smtp_close. */
typedef struct juniper_smtp juniper_smtp;

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
  juniper_status (*param_get)(juniper_ctx* ctx, juniper_str key, juniper_sink* out, juniper_error* err);
  juniper_status (*param_set)(juniper_ctx* ctx, juniper_str key, juniper_str value, juniper_error* err);

  /* Records, as JSON objects ({"id": 3, "name": "..."}). Writes run constraints and
   * change-defaults like every other writer. Secrets are plain text on this side. */
  juniper_status (*record_read)(juniper_ctx* ctx, juniper_str model, int64_t id, juniper_sink* out_json, juniper_error* err);
  /* filter_json: {"field": value, ...} (equality, AND); out: JSON array of ids, in model order */
  juniper_status (*record_search)(juniper_ctx* ctx, juniper_str model, juniper_str filter_json, juniper_sink* out_json,
                                  juniper_error* err);
  juniper_status (*record_create)(juniper_ctx* ctx, juniper_str model, juniper_str values_json, int64_t* out_id,
                                  juniper_error* err);
  juniper_status (*record_write)(juniper_ctx* ctx, juniper_str model, int64_t id, juniper_str values_json, juniper_error* err);
  juniper_status (*record_delete)(juniper_ctx* ctx, juniper_str model, int64_t id, juniper_error* err);

  /* Answers of actions and hooks. */
  void (*reply_json)(juniper_reply* reply, juniper_str json);

  /* HTTP requests (borrowed during the route call) and responses. */
  juniper_status (*request_get)(const juniper_http_request* request, int32_t what, juniper_str name, juniper_sink* out);
  void (*response_status)(juniper_http_response* response, int32_t status);
  void (*response_header)(juniper_http_response* response, juniper_str name, juniper_str value);
  void (*response_body)(juniper_http_response* response, juniper_str body);

  /* HTTP client (libcurl; certificates always verified, the host's extra CA file trusted too):
   * POSTs form_json ({"k": "v", ...}) as application/x-www-form-urlencoded and answers
   * {"status": 400, "body": "..."} in out_json whatever the HTTP status. A transport failure
   * (refused, timeout, TLS) is JUNIPER_ERR_TEMPORARY with the reason. */
  juniper_status (*http_post_form)(juniper_ctx* ctx, juniper_str url, juniper_str form_json, int32_t timeout_seconds,
                                   juniper_sink* out_json, juniper_error* err);
  /* Locks a record until the current transaction ends (one-at-a-time work: a token refresh
   * across threads and processes). */
  juniper_status (*record_lock)(juniper_ctx* ctx, juniper_str model, int64_t id, juniper_error* err);
  /* Percent-encodes a URL component (libcurl). */
  void (*url_encode)(juniper_str text, juniper_sink* out);
  /* v1.0 ends here. */

  /* v1.1: the host's mail clients (libcurl; TLS certificates always verified, the host's extra
   * CA file trusted too; SASL PLAIN/LOGIN with a password or XOAUTH2 with a bearer token), so a
   * module brings credentials and policy, never a second SMTP or IMAP implementation.
   * endpoint_json: {"host": "smtp.office365.com", "port": 587, "security": "none|starttls|ssl",
   *                 "auth": "none|password|xoauth2", "user": "...", "secret": "..."}
   * ("security" and "auth" default to "none"; any other word is JUNIPER_ERR_INVALID, never read
   * as plaintext or no login.)
   * (The usual way to send is still the mail.transport hook: answer credentials, the host sends
   * the queue. These calls are for a module's own mail work: probes, digests, relays.) */
  juniper_status (*smtp_open)(juniper_ctx* ctx, juniper_str endpoint_json, juniper_smtp** out, juniper_error* err);
  /* One message over the session's connection (connects lazily, reused, reconnects once when the
   * server dropped it). envelope_json: {"from": "a@example.com", "to": ["b@example.com"]}; data:
   * the RFC 5322 text. out_json, whatever the outcome: {"outcome": "sent" | "temporary" |
   * "permanent" | "auth_failed" | "connection_failed" | "tls_failed", "transient": bool,
   * "code": 250, "message": "<a sentence for the administrator>"}. Secrets never appear in it. */
  juniper_status (*smtp_send)(juniper_smtp* session, juniper_str envelope_json, juniper_str data, juniper_sink* out_json,
                              juniper_error* err);
  void (*smtp_close)(juniper_smtp* session); /* QUIT; NULL is a no-op */
  /* Connects, authenticates and selects INBOX (endpoint_json as above, "security": "ssl"
   * (default) or "starttls", "auth": "password" (default) or "xoauth2"; other words are
   * JUNIPER_ERR_INVALID), then answers {"uidvalidity": n, "unseen": [uid, ...]}. A failure is
   * JUNIPER_ERR_TEMPORARY (connection, identity provider down) or JUNIPER_ERR_INVALID (refused
   * login, TLS, protocol) with the reason. */
  juniper_status (*imap_check)(juniper_ctx* ctx, juniper_str endpoint_json, juniper_sink* out_json, juniper_error* err);
  /* v1.1 ends here. */

  /* v1.2: a named claim held by one caller at a time across threads and processes, for work
   * that must not run twice at once and must not hold a transaction while it waits on the
   * network (a token refresh). The name is private to the module. OK with the holder's token in
   * out_token; JUNIPER_ERR_CONFLICT while another holds it (wait, then look again). It frees
   * itself after `seconds`, so a holder that dies blocks nobody for long. Commits at once: call
   * it outside a transaction (hooks such as mail.transport run outside one). */
  juniper_status (*claim_acquire)(juniper_ctx* ctx, juniper_str name, int32_t seconds, juniper_sink* out_token,
                                  juniper_error* err);
  void (*claim_release)(juniper_ctx* ctx, juniper_str name, juniper_str token);
  /* v1.2 ends here. */

  /* v1.3: any HTTP request, for a provider's REST API (libcurl; certificates always verified).
   * request_json: {"method": "POST", "url": "https://...", "headers": {"Authorization": "...",
   * "Content-Type": "text/plain"}, "timeout": 30}; body: the request body. Whatever the HTTP
   * status: out_json {"status": 202, "headers": {"retry-after": "3", ...}} (names in lower
   * case) and the answer's bytes in out_body. A transport failure (refused, timeout, TLS) is
   * JUNIPER_ERR_TEMPORARY with the reason; an answer over 16 MB is JUNIPER_ERR_INVALID (asking
   * again cannot help: leave that item and go on). Request headers never appear in either. Call it outside a transaction (hooks
   * such as mail.deliver run outside one). */
  juniper_status (*http_request)(juniper_ctx* ctx, juniper_str request_json, juniper_str body, juniper_sink* out_json,
                                 juniper_sink* out_body, juniper_error* err);
  /* During the mail.collect hook: stores one fetched message (RFC 5322 bytes) for the incoming
   * server (model "fetchmail.server", id) and commits it; *out_stored is 0 when the same message
   * was already stored (fetched again after a crash). Mark it read at the provider only after
   * this returned OK: nothing is lost, nothing is stored twice. */
  juniper_status (*message_store)(juniper_ctx* ctx, juniper_str model, int64_t id, juniper_str raw, int32_t* out_stored,
                                  juniper_error* err);
  /* v1.4: the mails waiting on this outgoing server (model "ir.mail_server") for a fix the
   * module has just made (a reconnect, a grant) go out at the next queue run; mails waiting for
   * other reasons (back-off after a failure, a throttled server) keep their time.
   * *out_released: how many (may be NULL). */
  juniper_status (*mail_release)(juniper_ctx* ctx, juniper_str model, int64_t id, int64_t* out_released, juniper_error* err);
  /* v1.4 ends here. */

  /* v1.6: during mail.deliver of mail `mail_id`, up to max_bytes of attachment `index` of the
   * payload's "attachments" (those the host handed apart), from byte `offset`, into out (fewer
   * at the end; none past it). JUNIPER_ERR_NOT_FOUND outside that delivery or for an index
   * the payload does not list. The bytes stay the host's: read them in pieces as you upload. */
  juniper_status (*mail_attachment_read)(juniper_ctx* ctx, int64_t mail_id, int32_t index, int64_t offset, int32_t max_bytes,
                                         juniper_sink* out, juniper_error* err);
  /* v1.6 ends here. */

  /* v1.8: answers a module route with a page in the host's look, rendered by the host's
   * templates (every value escaped), instead of HTML of the module's own. page_json:
   * {"title": "Outlook connection failed", "paragraphs": ["What happened.", "What to do."],
   *  "tone": "error" (the paragraphs in an alert box) | "", "links": [{"href": "/web/...",
   *  "label": "Go back to your mail server"}]}. Links to other sites are dropped; an unreadable
   * page_json answers a generic error page (and is logged). */
  void (*response_page)(juniper_http_response* response, int32_t status, juniper_str page_json);
  /* v1.8 ends here. */

  /* v1.9: a MAC (HMAC-SHA256, 64 hex digits) of `message` under a key the host derives from its
   * own secret, the calling module's name and `purpose`: for values a module hands out and must
   * recognise later (an OAuth state, a browser binding) without ever holding the host's secret.
   * Two modules, or two purposes, never share a key. Compare MACs in constant time. */
  juniper_status (*sign)(juniper_ctx* ctx, juniper_str purpose, juniper_str message, juniper_sink* out_hex, juniper_error* err);
  /* v1.9 ends here; append only. */
} juniper_host_api;

/* Whether `api` is new enough to have `member` (OBS's HAS_VAL). */
#define JUNIPER_HOST_HAS(api, member) ((api)->struct_size >= offsetof(juniper_host_api, member) + sizeof((api)->member))

#endif
