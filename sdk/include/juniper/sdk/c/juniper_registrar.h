/* What a module may declare while the host calls its declare(): record types and their
 * extensions, settings fields, actions, HTTP routes and hook handlers.
 *
 * The host copies every string and array before the call returns. A declare() that fails
 * discards all of that module's declarations. Names are checked: a module's own record types,
 * settings and routes live in its namespace; it may only extend what it depends on.
 */
#ifndef JUNIPER_SDK_C_JUNIPER_REGISTRAR_H
#define JUNIPER_SDK_C_JUNIPER_REGISTRAR_H

#include "juniper_abi.h"

typedef int32_t juniper_field_type;
#define JUNIPER_FIELD_CHAR 1
#define JUNIPER_FIELD_TEXT 2
#define JUNIPER_FIELD_INT 3
#define JUNIPER_FIELD_BOOL 4
#define JUNIPER_FIELD_SELECTION 5
#define JUNIPER_FIELD_DATETIME 6 /* ISO 8601 UTC text, "2026-11-25T13:44:56Z" */
#define JUNIPER_FIELD_MANY2ONE 7 /* id of a record of `relation` */
#define JUNIPER_FIELD_SECRET 8   /* text, encrypted at rest, never printed */

/* juniper_field_desc.flags */
#define JUNIPER_FIELD_REQUIRED 0x1u
#define JUNIPER_FIELD_READONLY 0x2u /* shown, not editable in forms (status, timestamps) */
#define JUNIPER_FIELD_HIDDEN 0x4u   /* kept out of forms and lists */
#define JUNIPER_FIELD_BADGE 0x8u    /* v1.4, selections: a status shown as a coloured badge */

typedef struct juniper_selection_item {
  const char* value;
  const char* label;
} juniper_selection_item;

typedef struct juniper_field_desc {
  uint32_t struct_size;
  const char* name; /* [a-z][a-z0-9_]* */
  juniper_field_type type;
  const char* label;
  const char* default_value; /* text form ("10", "true", "starttls"); NULL: none */
  uint32_t flags;
  const juniper_selection_item* selection; /* JUNIPER_FIELD_SELECTION only */
  size_t selection_count;
  const char* relation; /* JUNIPER_FIELD_MANY2ONE only: the target record type */
  const char* help;
  /* v1.3: "field=value": the pages show this field only on records where `field` has that value
   * (an Outlook-only field on a server whose authentication is Outlook); NULL: always. */
  const char* shown_if;
  /* v1.4, badges: NULL, or selection_count entries giving each value's colour: "ok", "warning",
   * "error", or NULL (neutral). The host shows the status; it knows nothing of what it means. */
  const char* const* selection_tones;
} juniper_field_desc;

/* A new record type (name inside the module's namespace, or an Odoo-style name such as
 * "fetchmail.server" for the host), or, for extend_record_type, an existing one. */
typedef struct juniper_record_type_desc {
  uint32_t struct_size;
  const char* name;
  const char* label;
  const juniper_field_desc* fields;
  size_t field_count;
  const char* order; /* e.g. "sequence, id"; NULL: "id" */
} juniper_record_type_desc;

/* New values for a selection field of a type the module depends on. Records holding one of
 * them when the module is uninstalled get `fallback_value` back (Odoo's ondelete="set default"). */
typedef struct juniper_selection_extension_desc {
  uint32_t struct_size;
  const char* model;
  const char* field;
  const juniper_selection_item* items;
  size_t item_count;
  const char* fallback_value;
  /* ABI 1.1. When set (with one item), forms show the value as a checkbox with this label
   * ("Outlook"): checked = the value, unchecked = fallback_value. NULL: a plain choice. */
  const char* checkbox_label;
} juniper_selection_extension_desc;

/* Runs inside the write's transaction, on create and on write, with the record as it would be
 * stored (JSON object, secrets decrypted). Refuse with JUNIPER_ERR_INVALID and a message that
 * names the record. */
typedef juniper_status (*juniper_constraint_fn)(void* user, juniper_ctx* ctx, juniper_str model, juniper_str record_json,
                                                juniper_error* err);

typedef struct juniper_constraint_desc {
  uint32_t struct_size;
  const char* model;
  const char* fields; /* comma-separated fields that trigger it; NULL or "": any */
  juniper_constraint_fn check;
  void* user;
} juniper_constraint_desc;

/* When a create or write sets `field` to `value`, the fields of `values_json` take those values
 * unless the same operation sets them explicitly (Odoo's onchange, enforced for every writer). */
typedef struct juniper_change_default_desc {
  uint32_t struct_size;
  const char* model;
  const char* field;
  const char* value;
  const char* values_json; /* {"smtp_host": "smtp.office365.com", "smtp_port": 587} */
} juniper_change_default_desc;

/* juniper_setting_desc.flags */
#define JUNIPER_SETTING_SECRET 0x1u

/* v1.5: a value the module computes whenever the settings are shown (from other settings or
 * parameters), written to `out`; such a setting is read-only, stores nothing and is shown with a
 * copy button (the exact redirect URI to register at a provider). */
typedef juniper_status (*juniper_setting_compute_fn)(void* user, juniper_ctx* ctx, juniper_sink* out, juniper_error* err);

typedef struct juniper_setting_desc {
  uint32_t struct_size;
  const char* name;             /* settings field, e.g. "microsoft_outlook_client_identifier" */
  const char* config_parameter; /* system parameter it is stored in; NULL: same as name */
  juniper_field_type type;      /* CHAR, TEXT, INT, BOOL, SELECTION or SECRET */
  const char* label;
  const char* default_value;
  uint32_t flags;
  const char* group;    /* section of General Settings, e.g. "Discuss" */
  const char* block;    /* sub-block, e.g. "Outlook Credentials"; NULL: none */
  const char* shown_if; /* name of a BOOL setting that must be on; NULL: always */
  const char* help;
  const juniper_selection_item* selection;
  size_t selection_count;
  /* v1.5: NULL, or the function computing this read-only setting's value (see above). */
  juniper_setting_compute_fn compute;
  void* compute_user;
} juniper_setting_desc;

/* An action (a button on a record type). visible may be NULL (always visible).
 * invoke answers through host_api->reply_json, e.g. {"message": "..."} or {"url": "..."}.
 *
 * v1.5, follow-ups: work that ends later (a sign-in on another device) answers at once with
 * what the person needs ({"message": "Open ... and enter the code ...", ...}) plus
 *   "continue": {"action": "<another action of this model>", "after": <seconds>, "until": <unix time>}
 * The host then runs that action on the same record every `after` seconds until it answers
 * without "pending": true (it may change the pace with "after": <seconds>), or until `until`
 * passes. Its last answer is the outcome; "failed": true marks a failure, explained by its
 * "message" or "reason". The command line prints each answer as one JSON line (exit 1 when the
 * outcome failed); the web pages show the first message and then the outcome on the record. */
typedef int32_t (*juniper_action_visible_fn)(void* user, juniper_ctx* ctx, juniper_str model, juniper_str record_json);
typedef juniper_status (*juniper_action_fn)(void* user, juniper_ctx* ctx, juniper_str model, int64_t id, juniper_reply* reply,
                                            juniper_error* err);

/* juniper_action_desc.flags */
#define JUNIPER_ACTION_ADMIN_ONLY 0x1u
/* v1.5: the action waits on the network (http_request, a token request): the host runs it
 * outside any transaction, so each host call that writes commits at once. */
#define JUNIPER_ACTION_NETWORK 0x2u
/* v1.5: never shown as a button (a follow-up, or an action for the command line only). */
#define JUNIPER_ACTION_HIDDEN 0x4u

typedef struct juniper_action_desc {
  uint32_t struct_size;
  const char* model;
  const char* name;  /* e.g. "outlook_connect" */
  const char* label; /* e.g. "Connect your Outlook account" */
  uint32_t flags;
  juniper_action_visible_fn visible;
  juniper_action_fn invoke;
  void* user;
} juniper_action_desc;

typedef int32_t juniper_route_auth;
#define JUNIPER_AUTH_NONE 0  /* anyone */
#define JUNIPER_AUTH_USER 1  /* a logged-in user, else the login page, then back */
#define JUNIPER_AUTH_ADMIN 2 /* a logged-in administrator, else 403 */

/* juniper_route_desc.flags */
#define JUNIPER_ROUTE_CSRF 0x1u /* state-changing: the host checks the form's csrf_token */
/* v1.9: the handler waits on the network (a token request): the host runs it outside any
 * transaction, so each host call that writes commits at once and nobody waits on its peer.
 * Without it a route runs in one transaction, committed when it answers without error. */
#define JUNIPER_ROUTE_NETWORK 0x2u

typedef juniper_status (*juniper_route_fn)(void* user, juniper_ctx* ctx, const juniper_http_request* request,
                                           juniper_http_response* response, juniper_error* err);

typedef struct juniper_route_desc {
  uint32_t struct_size;
  const char* method; /* "GET", "POST" */
  const char* path;   /* must start with "/<module name>/" */
  juniper_route_auth auth;
  uint32_t flags;
  juniper_route_fn handler;
  void* user;
} juniper_route_desc;

/* A handler of a host-defined hook. The payload is JSON (its shape is documented with each
 * hook). Return JUNIPER_ERR_UNSUPPORTED to let the next handler try ("first handler that claims
 * it wins" hooks), JUNIPER_OK after answering with reply_json, or an error. */
typedef juniper_status (*juniper_hook_fn)(void* user, juniper_ctx* ctx, juniper_str payload_json, juniper_reply* reply,
                                          juniper_error* err);

typedef struct juniper_hook_desc {
  uint32_t struct_size;
  const char* hook; /* e.g. "record.changed", "mail.transport" */
  int32_t priority; /* lower runs first */
  juniper_hook_fn handler;
  void* user;
} juniper_hook_desc;

typedef struct juniper_registrar_api {
  uint32_t struct_size;
  juniper_status (*declare_record_type)(juniper_registrar* reg, const juniper_record_type_desc* desc, juniper_error* err);
  juniper_status (*extend_record_type)(juniper_registrar* reg, const juniper_record_type_desc* desc, juniper_error* err);
  juniper_status (*extend_selection)(juniper_registrar* reg, const juniper_selection_extension_desc* desc, juniper_error* err);
  juniper_status (*add_constraint)(juniper_registrar* reg, const juniper_constraint_desc* desc, juniper_error* err);
  juniper_status (*add_change_default)(juniper_registrar* reg, const juniper_change_default_desc* desc, juniper_error* err);
  juniper_status (*declare_setting)(juniper_registrar* reg, const juniper_setting_desc* desc, juniper_error* err);
  juniper_status (*declare_action)(juniper_registrar* reg, const juniper_action_desc* desc, juniper_error* err);
  juniper_status (*declare_route)(juniper_registrar* reg, const juniper_route_desc* desc, juniper_error* err);
  juniper_status (*connect_hook)(juniper_registrar* reg, const juniper_hook_desc* desc, juniper_error* err);
  /* v1.0 ends here; append only. */
} juniper_registrar_api;

#endif
