#include "mail/attachment_store.hpp"

#include "core/crypto.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <stdexcept>
#include <system_error>

namespace juniper::mail {

namespace {

// One table each, with the same columns: a mail's and a message's ids overlap.
std::string table(Owner owner) { return owner == Owner::mail ? "mail_attachment_piece" : "mail_message_attachment_piece"; }

}  // namespace

void ensure_attachment_table(Database& db) {
  const std::string integer = db.integer_type();
  for (const Owner owner : {Owner::mail, Owner::message}) {
    if (db.table_exists(table(owner))) continue;
    db.session() << "CREATE TABLE IF NOT EXISTS " + table(owner) + " (mail_id " + integer + " NOT NULL, idx " + integer +
                        " NOT NULL, seq " + integer + " NOT NULL, data TEXT NOT NULL, PRIMARY KEY (mail_id, idx, seq))";
  }
}

namespace {

// Inserts the pieces `next` fills in until it gives an empty one; at least one (an empty
// attachment is one empty piece, so a missing piece always means "not stored").
template <typename Next>
void insert_pieces(records::Env& env, Owner owner, std::int64_t mail_id, int index, Next next) {
  long long id = mail_id;
  int seq = 0;
  std::string piece, text;
  soci::statement st = (env.sql().prepare << "INSERT INTO " + table(owner) +
                                                 " (mail_id, idx, seq, data) "
                                                 "VALUES (:m, :i, :s, :d)",
                        soci::use(id), soci::use(index), soci::use(seq), soci::use(text));
  next(piece);
  do {
    text = crypto::base64(piece);
    st.execute(true);
    ++seq;
    next(piece);
  } while (!piece.empty());
}

}  // namespace

void store_attachment(records::Env& env, std::int64_t mail_id, int index, std::string_view data, Owner owner) {
  std::size_t at = 0;
  insert_pieces(env, owner, mail_id, index, [&](std::string& piece) {
    piece.assign(data.substr(std::min(at, data.size()), kAttachmentPiece));
    at += piece.size();
  });
}

std::size_t store_attachment(records::Env& env, std::int64_t mail_id, int index, std::istream& in, Owner owner) {
  std::size_t total = 0;
  insert_pieces(env, owner, mail_id, index, [&](std::string& piece) {
    piece.resize(kAttachmentPiece);
    in.read(piece.data(), static_cast<std::streamsize>(piece.size()));
    piece.resize(static_cast<std::size_t>(in.gcount()));
    total += piece.size();
  });
  if (in.bad()) throw std::runtime_error("reading an attachment failed");
  return total;
}

void store_attachment(records::Env& env, std::int64_t id, int index, const Spooled& file, std::size_t offset, std::size_t size,
                      Owner owner) {
  if (offset + size > file.size()) throw std::out_of_range("an attachment past the end of its file");
  std::size_t at = 0;
  insert_pieces(env, owner, id, index, [&](std::string& piece) {
    const std::size_t n = std::min(kAttachmentPiece, size - at);
    if (!file.in_file()) {
      piece.assign(file.memory().substr(offset + at, n));
    } else {
      piece.resize(n);
      std::size_t got = 0;
      while (got < n) {
        const ssize_t r = ::pread(file.fd(), piece.data() + got, n - got, static_cast<off_t>(offset + at + got));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) throw std::system_error(r < 0 ? errno : EIO, std::generic_category(), "reading an attachment back");
        got += static_cast<std::size_t>(r);
      }
    }
    at += n;
  });
}

std::string read_attachment(records::Env& env, std::int64_t mail_id, int index, std::size_t offset, std::size_t max,
                            Owner owner) {
  std::string out;
  long long id = mail_id;
  int seq = static_cast<int>(offset / kAttachmentPiece);
  std::size_t skip = offset % kAttachmentPiece;
  std::string piece;
  soci::indicator ind = soci::i_null;
  soci::statement st = (env.sql().prepare << "SELECT data FROM " + table(owner) + " WHERE mail_id = :m AND idx = :i AND seq = :s",
                        soci::use(id), soci::use(index), soci::use(seq), soci::into(piece, ind));
  while (out.size() < max) {
    st.execute(false);
    if (!st.fetch() || ind != soci::i_ok) break;
    const std::string bytes = crypto::base64_decode(piece);
    if (skip >= bytes.size()) break;
    out.append(bytes, skip, std::min(bytes.size() - skip, max - out.size()));
    skip = 0;
    ++seq;
  }
  return out;
}

void drop_attachments(records::Env& env, std::int64_t mail_id, Owner owner) {
  env.sql() << "DELETE FROM " + table(owner) + " WHERE mail_id = :m", soci::use(mail_id);
}

void sweep_attachments(records::Env& env) {
  env.sql() << "DELETE FROM mail_attachment_piece WHERE NOT EXISTS "
               "(SELECT 1 FROM mail_mail WHERE mail_mail.id = mail_attachment_piece.mail_id)";
  env.sql() << "DELETE FROM mail_message_attachment_piece WHERE NOT EXISTS "
               "(SELECT 1 FROM mail_message WHERE mail_message.id = mail_message_attachment_piece.mail_id)";
}

}  // namespace juniper::mail
