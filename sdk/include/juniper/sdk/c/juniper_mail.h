/* The host's mail hooks: names, payloads (JSON) and answers. A handler answers
 * JUNIPER_ERR_UNSUPPORTED for a record that is not its business; the next handler is asked.
 * Every mail hook runs outside any transaction and may wait on the network.
 *
 * "mail.transport"   (an outgoing server whose smtp_authentication the host does not know)
 *   payload {"model": "ir.mail_server", "id": 3, "kind": "outlook", "fresh": false}
 *   answer  {"auth": "xoauth2" | "password" | "none", "user": "...", "secret": "..."}: the host
 *           sends over SMTP with these credentials ("fresh": true after a refused login: the
 *           cached token was refused, bring a new one);
 *       or  {"delivery": "module"} (ABI 1.3): the module delivers each mail itself through
 *           "mail.deliver" (an HTTP mail API instead of SMTP); with
 *           "attachments_apart_above": N (ABI 1.6), attachments over N bytes are left out of
 *           the message and handed apart (mail.deliver's "attachments"); with
 *           "message_max": M (ABI 1.7), the largest remaining attachments are handed apart too
 *           while the message would exceed M bytes (estimated from their sizes, base64
 *           included); a message whose text alone exceeds M still comes whole.
 *
 * "mail.deliver"     (ABI 1.3; for servers whose transport answered {"delivery": "module"})
 *   payload {"model": "ir.mail_server", "id": 3, "kind": "outlook", "mail_id": 12,
 *            "from": "<envelope sender>", "to": ["..."], "bcc": ["..."],
 *            "message": "<RFC 5322 text, CRLF>",
 *            "attachments": [{"index": 0, "filename": "scan.pdf", "content_type":
 *                             "application/pdf", "size": 31457280}]}
 *           ("attachments", ABI 1.6: those left out of "message", only when the transport
 *           asked for it; their bytes come from the host call mail_attachment_read during
 *           this call, in pieces.)
 *   answer  {"outcome": "sent" | "retry" | "throttled" | "wait" | "failed",
 *            "reason": "<a sentence for the administrator: what happened, what to do>",
 *            "retry_after": 30}
 *     sent       delivered;
 *     retry      a transient failure: retried with back-off, an attempt counted;
 *     throttled  the service asked to slow down: this mail and the rest of the server's batch
 *                wait retry_after seconds, no attempt counted;
 *     wait       a configuration to fix (consent, rights): the mail waits with the reason and
 *                goes once fixed, no attempt counted;
 *     failed     this mail cannot be delivered as it is (exception, with the reason).
 *
 * "mail.check"       (ABI 1.3; Test Connection of such a server)
 *   payload {"model": "ir.mail_server", "id": 3, "kind": "outlook"}
 *   answer  {"message": "Connection Test Successful! ..."}; an error status with the reason.
 *
 * "mail.refused"     (ABI 1.3; the SMTP server refused the login of a server of the module's kind;
 *                     ABI 1.4: or refused a mail for good, "stage": "mail" with its envelope "from")
 *   payload {"model": "ir.mail_server", "id": 3, "kind": "outlook", "code": 535,
 *            "reply": "<the server's reply>", "message": "<the host's sentence>",
 *            "stage": "login" | "mail", "from": "shared@example.com" (stage "mail")}
 *   answer  {"outcome": "wait" | "failed", "reason": "<what it means, what to do>"}: "wait" holds
 *           the server's mails until it is fixed, no attempt counted. UNSUPPORTED: the host's
 *           own sentence, the mails fail.
 *
 * "mail.fetch.login" (an incoming server whose server_type the host does not know)
 *   payload {"model": "fetchmail.server", "id": 2, "kind": "outlook", "fresh": false}
 *   answer  as mail.transport's credentials; the host fetches over IMAP;
 *       or  {"delivery": "module"} (ABI 1.3): the module fetches through "mail.collect".
 *
 * "mail.collect"     (ABI 1.3; Fetch for such a server)
 *   payload {"model": "fetchmail.server", "id": 2, "kind": "outlook", "limit": 50}
 *   The module reads up to `limit` unread messages, hands each to the host call message_store
 *   (stored and committed there), and marks them read at its service only afterwards.
 *   answer  {"stored": 3, "duplicates": 0, "skipped": 0}; an error status with the reason
 *           (TEMPORARY: retried at the next fetch). "skipped": messages the module left unread
 *           at its service because they cannot be taken (too large), logged with what to do.
 *   "mail.check" answers Test & Confirm for such a server (payload model "fetchmail.server").
 *
 * "record.changed"   payload {"model": "...", "id": 3, "op": "create" | "write" | "delete",
 *                            "fields": ["name", ...]} (ABI 1.7: the fields given)
 *
 * "admin.warnings"   (ABI 1.4; every module answers, the answers are gathered)
 *   payload {"now": "2026-12-02T13:00:00Z"} (the host's clock: tests move it)
 *   answer  {"warnings": [{"key": "<module>.<what>.<incident>", "text": "what happens, what to do",
 *            "link": "/web/settings"}]}: shown on every admin page and in /web/health, mailed
 *           to mail.alert.recipients once a day per key while it is answered.
 */
#ifndef JUNIPER_SDK_C_JUNIPER_MAIL_H
#define JUNIPER_SDK_C_JUNIPER_MAIL_H

#define JUNIPER_HOOK_MAIL_TRANSPORT "mail.transport"
#define JUNIPER_HOOK_MAIL_DELIVER "mail.deliver"
#define JUNIPER_HOOK_MAIL_CHECK "mail.check"
#define JUNIPER_HOOK_MAIL_REFUSED "mail.refused"
#define JUNIPER_HOOK_MAIL_COLLECT "mail.collect"
#define JUNIPER_HOOK_MAIL_FETCH_LOGIN "mail.fetch.login"
#define JUNIPER_HOOK_RECORD_CHANGED "record.changed"
#define JUNIPER_HOOK_ADMIN_WARNINGS "admin.warnings"

#endif
