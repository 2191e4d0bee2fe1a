// A queued mail's attachments (and a fetched message's), kept beside its row in pieces (base64 text, so one column type
// serves SQLite and PostgreSQL). Whoever needs an attachment reads it, or a range of it, when it
// needs it: the mail row stays small, preparing a message loads only the attachments that go
// into it, and a module sending one apart reads a piece at a time (a 100 MB attachment is never
// whole in memory for it).
#pragma once

#include "core/spooled.hpp"
#include "db/database.hpp"
#include "records/env.hpp"

#include <cstdint>
#include <istream>
#include <string>
#include <string_view>

namespace juniper::mail {

// Bytes per stored piece: 1 MiB once in base64.
inline constexpr std::size_t kAttachmentPiece = 768u * 1024;

// Whose attachments: a queued mail's (mail.mail) or a fetched message's (mail.message).
enum class Owner { mail, message };

void ensure_attachment_table(Database& db);

// Stores `data` as attachment `index` of mail `mail_id` (inside the caller's transaction).
void store_attachment(records::Env& env, std::int64_t mail_id, int index, std::string_view data, Owner owner = Owner::mail);
// The same from a stream, a piece at a time; answers the bytes stored.
std::size_t store_attachment(records::Env& env, std::int64_t mail_id, int index, std::istream& in, Owner owner = Owner::mail);
// The same from `size` bytes of `file` at `offset`, a piece at a time.
void store_attachment(records::Env& env, std::int64_t id, int index, const Spooled& file, std::size_t offset, std::size_t size,
                      Owner owner);

// Up to `max` bytes of attachment `index` of mail `mail_id` from `offset`; fewer at its end.
std::string read_attachment(records::Env& env, std::int64_t mail_id, int index, std::size_t offset, std::size_t max,
                            Owner owner = Owner::mail);

// Drops the pieces of mail `mail_id` (in the transaction that deletes the mail).
void drop_attachments(records::Env& env, std::int64_t mail_id, Owner owner = Owner::mail);
// Drops the pieces of mails and messages that no longer exist (deleted by other means than the
// records service, e.g. in SQL); run at start.
void sweep_attachments(records::Env& env);

}  // namespace juniper::mail
