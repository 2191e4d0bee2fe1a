// A queued mail's attachments, kept beside its row in pieces (base64 text, so one column type
// serves SQLite and PostgreSQL). Whoever needs an attachment reads it, or a range of it, when it
// needs it: the mail row stays small, preparing a message loads only the attachments that go
// into it, and a module sending one apart reads a piece at a time (a 100 MB attachment is never
// whole in memory for it).
#pragma once

#include "db/database.hpp"
#include "records/env.hpp"

#include <cstdint>
#include <istream>
#include <string>
#include <string_view>

namespace juniper::mail {

// Bytes per stored piece: 1 MiB once in base64.
inline constexpr std::size_t kAttachmentPiece = 768u * 1024;

void ensure_attachment_table(Database& db);

// Stores `data` as attachment `index` of mail `mail_id` (inside the caller's transaction).
void store_attachment(records::Env& env, std::int64_t mail_id, int index, std::string_view data);
// The same from a stream, a piece at a time; answers the bytes stored.
std::size_t store_attachment(records::Env& env, std::int64_t mail_id, int index, std::istream& in);

// Up to `max` bytes of attachment `index` of mail `mail_id` from `offset`; fewer at its end.
std::string read_attachment(records::Env& env, std::int64_t mail_id, int index, std::size_t offset, std::size_t max);

// Drops the pieces of mails that no longer exist (deleted from the pages or the CLI).
void sweep_attachments(records::Env& env);

}  // namespace juniper::mail
