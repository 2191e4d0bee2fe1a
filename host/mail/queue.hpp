// The outgoing queue (mail.mail): enqueue with validation, claim with a lease, record outcomes.
// States: outgoing -> sending (claimed) -> sent | exception | cancel; a transient failure goes
// back to outgoing with a growing delay. An expired lease is claimed again, so a sender killed
// mid-batch loses nothing.
#pragma once

#include "records/env.hpp"

#include <chrono>
#include <optional>

namespace juniper::mail {

struct AttachmentFile {
  std::string filename;
  std::string content_type;
  std::string data;
};

struct Draft {
  std::string email_from;
  std::string email_to;   // comma-separated
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

struct QueuedMail {
  std::int64_t id = 0;
  std::string email_from, email_to, email_cc, email_bcc, subject, body_text, body_html, attachments_json, message_id;
  std::optional<std::int64_t> mail_server_id;
  int attempts = 0;
  std::size_t recipients_done = 0;  // of a mail split into several SMTP transactions
  std::string create_date;          // ISO UTC, for mail.queue.max_age
};

// Takes up to `limit` due mails (and mails whose lease expired) for `owner`.
std::vector<QueuedMail> claim(records::Env& env, const std::string& owner, std::size_t limit,
                              std::chrono::seconds lease = std::chrono::seconds(60));

// claim() leaves the bodies (text, HTML, attachments) in the database: load_body reads them when
// the mail is prepared, drop_body frees them once it is built.
void load_body(records::Env& env, QueuedMail& mail);
void drop_body(QueuedMail& mail);

// Extends the lease of every mail `owner` still holds: a batch that takes longer than its lease
// (slow server, timeouts) must not be claimed, and sent, by another process meanwhile. Returns
// the ids still held: a mail missing from them has passed to another sender and is not sent here.
std::vector<std::int64_t> renew_lease(records::Env& env, const std::string& owner, std::chrono::seconds lease);

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
void mark_retry(records::Env& env, const QueuedMail& mail, const std::string& reason);
// Waits without burning attempts (e.g. "Reconnect the Outlook account of server X"); `server`:
// the outgoing server whose fix it waits for (release_waiting lets it go sooner).
void mark_waiting(records::Env& env, const QueuedMail& mail, const std::string& reason, std::chrono::seconds delay,
                  std::optional<std::int64_t> server = std::nullopt);
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
