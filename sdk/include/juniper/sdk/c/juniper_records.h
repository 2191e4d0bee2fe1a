/* What of the host's own data a module may rely on across 1.x: the record types the mail
 * application declares, the fields of theirs that are never renamed or removed in 1.x (fields
 * may be added), the settings and parameters modules read, and the address of a record's page.
 * Read and write them through the host table (record_read, record_write, param_get, ...) like
 * any record; a field a module adds (registrar extend) is the module's own.
 *
 * Threads: declare() runs on the thread that loads the modules. Every other call (actions,
 * routes, hooks, constraints, compute functions) may come from any host thread, several at
 * once: web request threads, the mail queue's lanes, the fetcher, the command line. A handler
 * keeps no per-call state in statics and treats `ctx` and every juniper_str argument as valid
 * for the call only (copy what you keep). What a module may keep: its declarations' callbacks
 * and `user` pointers (alive while the process runs), threads it starts in start() and joins in
 * stop(), and data in its own record types and parameters (named after the module). The host
 * keeps the database connections, transactions, HTTP connections and signals.
 */
#ifndef JUNIPER_SDK_C_JUNIPER_RECORDS_H
#define JUNIPER_SDK_C_JUNIPER_RECORDS_H

/* Outgoing mail servers (Odoo's ir.mail_server). smtp_encryption: "none" | "starttls" | "ssl";
 * smtp_authentication: "login" plus the values modules add (registrar extend_selection). */
#define JUNIPER_MODEL_OUTGOING_SERVER "ir.mail_server"
#define JUNIPER_OUTGOING_SERVER_FIELDS                                                                                          \
  "name", "active", "sequence", "from_filter", "smtp_host", "smtp_port", "smtp_encryption", "smtp_authentication", "smtp_user", \
      "smtp_pass", "max_recipients", "max_connections", "max_per_minute", "max_recipients_per_day"

/* Incoming mail servers (Odoo's fetchmail.server). server_type: "imap" plus modules' values;
 * state: "draft" | "done" (confirmed by Test & Confirm). */
#define JUNIPER_MODEL_INCOMING_SERVER "fetchmail.server"
#define JUNIPER_INCOMING_SERVER_FIELDS \
  "name", "active", "state", "server_type", "server", "port", "is_ssl", "user", "password", "attach"

/* The outgoing queue (Odoo's mail.mail). state: "outgoing" | "sending" | "sent" | "exception". */
#define JUNIPER_MODEL_MAIL "mail.mail"
#define JUNIPER_MAIL_FIELDS                                                                                      \
  "state", "email_from", "email_to", "email_cc", "email_bcc", "subject", "body_text", "body_html", "message_id", \
      "failure_reason", "date_sent", "create_date"

/* Fetched messages (Odoo's mail.message, as the fetcher stores them). */
#define JUNIPER_MODEL_MESSAGE "mail.message"
#define JUNIPER_MESSAGE_FIELDS "subject", "email_from", "date", "message_id", "body_text", "body_html"

/* Settings and parameters modules read. The setting is a BOOL (settings' shown_if may name it). */
#define JUNIPER_SETTING_CUSTOM_EMAIL_SERVERS "external_email_server_default"
#define JUNIPER_PARAM_WEB_BASE_URL "web.base.url" /* how people reach the site, e.g. "https://erp.example.com" */

/* A record's page, for links a module gives out (printf format: model, id). */
#define JUNIPER_RECORD_PAGE_FORMAT "/web/record/%s/%lld"

#endif
