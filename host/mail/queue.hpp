// The outgoing queue (mail.mail): enqueue with validation, claim with a lease, record outcomes.
// States: outgoing -> sending (claimed) -> sent | exception | cancel; a transient failure goes
// back to outgoing with a growing delay. An expired lease is claimed again, so a sender killed
// mid-batch loses nothing.
#pragma once

#include "core/spooled.hpp"
#include "records/env.hpp"

#include <chrono>
#include <optional>

namespace juniper::mail {

struct AttachmentFile {
  std::string filename;
  std::string content_type;
  std::string data;
  std::string path;  // when set: the bytes are this file's, read in pieces as the mail is queued
  // When set: the bytes are `size` bytes of this spool file from `offset` (a file uploaded with
  // Compose), read in pieces as the mail is queued. The caller keeps the file open until then.
  const Spooled* spooled = nullptr;
  std::size_t offset = 0;
  std::size_t size = 0;
};

struct Draft {
  std::string email_from;
  std::string email_to;  // comma-separated
  std::string email_cc;
  std::string email_bcc;
  std::string subject;
  std::string body_text;
  std::string body_html;
  std::vector<AttachmentFile> attachments;
  std::optional<std::int64_t> mail_server_id;
};

// Refuses (UserError, nothing queued) malformed addresses, CR/LF/NUL in header values, no
// recipient, or a mail over mail.max_size. Returns the new mail.mail id.
std::int64_t enqueue(records::Env& env, const Draft& draft);

// One attachment of a queued mail: what the mail row says of it, and its bytes once loaded.
struct MailAttachment {
  std::string filename, content_type;
  std::size_t size = 0;
  int index = 0;        // its place in the mail (the attachment store's key)
  bool loaded = false;  // `data` holds its bytes (always for a mail queued before the store)
  bool apart = false;   // handed apart to a module instead of going into the message
  std::string data;
};

// The mail row's `attachments` (JSON): names, types and sizes; the bytes of mails queued
// before the attachment store are inline (base64 "data"). Throws on malformed JSON.
std::vector<MailAttachment> parse_attachments(const std::string& json);

// What a module's transport asked for (mail.transport): attachments over `apart_above` bytes go
// apart, and while the message would still exceed `message_max` (estimated from the sizes), so
// does the largest one left. 0: no such limit.
struct AttachmentPlan {
  std::size_t apart_above = 0;
  std::size_t message_max = 0;
};
void plan_attachments(std::vector<MailAttachment>& attachments, std::size_t body_bytes, const AttachmentPlan& plan);

struct QueuedMail {
  std::int64_t id = 0;
  std::string email_from, email_to, email_cc, email_bcc, subject, body_text, body_html, message_id;
  std::vector<MailAttachment> attachments;
  std::string body_error;  // why the stored body could not be read (the mail's outcome)
  std::optional<std::int64_t> mail_server_id;
  int attempts = 0;
  std::size_t recipients_done = 0;  // of a mail split into several SMTP transactions
  std::string create_date;          // ISO UTC, for mail.queue.max_age
};

// Takes up to `limit` due mails (and mails whose lease expired) for `owner`.
// `now`: the queue's clock (tests move it instead of waiting).
using TimePoint = std::chrono::system_clock::time_point;
std::vector<QueuedMail> claim(records::Env& env, const std::string& owner, std::size_t limit,
                              std::chrono::seconds lease = std::chrono::seconds(60),
                              TimePoint now = std::chrono::system_clock::now());

// claim() leaves the bodies (text, HTML, attachments) in the database: load_body reads them when
// the mail is prepared (the attachments that go into the message, not those `plan` sends
// apart), drop_body frees them once it is built. A body that cannot be read is `body_error`.
void load_body(records::Env& env, QueuedMail& mail, const AttachmentPlan& plan = {});
void drop_body(QueuedMail& mail);

// Extends the lease of every mail `owner` still holds: a batch that takes longer than its lease
// (slow server, timeouts) must not be claimed, and sent, by another process meanwhile. Returns
// the ids still held: a mail missing from them has passed to another sender and is not sent here.
std::vector<std::int64_t> renew_lease(records::Env& env, const std::string& owner, std::chrono::seconds lease,
                                      TimePoint now = std::chrono::system_clock::now());

// `note`: kept as the failure reason of a sent mail (recipients the server refused).
void mark_sent(records::Env& env, std::int64_t id, std::optional<std::int64_t> server_id, const std::string& note = {},
               std::chrono::system_clock::time_point when = std::chrono::system_clock::now(), std::size_t recipients = 0);
// Mails sent through `server_id` since `since`, and the earliest of them (for a pace window).
struct SentSince {
  std::size_t count = 0;
  std::size_t recipients = 0;  // a mail sent before recipient_count existed counts as one
  std::optional<std::chrono::system_clock::time_point> earliest;
};
SentSince sent_since(records::Env& env, std::int64_t server_id, std::chrono::system_clock::time_point since);
// Transient failure: back to outgoing, retried after a delay that grows with the attempts.
void mark_retry(records::Env& env, const QueuedMail& mail, const std::string& reason,
                TimePoint now = std::chrono::system_clock::now());
// Waits without burning attempts (e.g. "Reconnect the Outlook account of server X"); `server`:
// the outgoing server whose fix it waits for (release_waiting lets it go sooner).
void mark_waiting(records::Env& env, const QueuedMail& mail, const std::string& reason, std::chrono::seconds delay,
                  std::optional<std::int64_t> server = std::nullopt, TimePoint now = std::chrono::system_clock::now());
// Makes the mails waiting on `server_id` due now (its fix was made); answers how many.
std::int64_t release_waiting(records::Env& env, std::int64_t server_id);
void mark_exception(records::Env& env, std::int64_t id, const std::string& reason);
// Progress of a mail split into several SMTP transactions, kept while it is still claimed.
void mark_recipients_done(records::Env& env, std::int64_t id, std::size_t done);
// Seconds since an ISO UTC time written by iso_time (0 when unparsable).
std::chrono::seconds age_of(const std::string& iso, std::chrono::system_clock::time_point now);
// The `retry` action: back to outgoing now, attempts reset.
void retry(records::Env& env, std::int64_t id);

std::string iso_time(std::chrono::system_clock::time_point t);
std::chrono::seconds backoff(int attempts);

}  // namespace juniper::mail
