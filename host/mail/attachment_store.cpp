#include "mail/attachment_store.hpp"

#include "core/crypto.hpp"

#include <algorithm>

namespace juniper::mail {

void ensure_attachment_table(Database& db) {
  if (db.table_exists("mail_attachment_piece")) return;
  const std::string integer = db.integer_type();
  db.session() << "CREATE TABLE IF NOT EXISTS mail_attachment_piece (mail_id " + integer + " NOT NULL, idx " + integer +
                      " NOT NULL, seq " + integer + " NOT NULL, data TEXT NOT NULL, PRIMARY KEY (mail_id, idx, seq))";
}

void store_attachment(records::Env& env, std::int64_t mail_id, int index, std::string_view data) {
  long long id = mail_id;
  int seq = 0;
  std::string piece;
  soci::statement st = (env.sql().prepare << "INSERT INTO mail_attachment_piece (mail_id, idx, seq, data) "
                                             "VALUES (:m, :i, :s, :d)",
                        soci::use(id), soci::use(index), soci::use(seq), soci::use(piece));
  // An empty attachment is one empty piece, so its absence always means "not stored".
  for (std::size_t at = 0; at == 0 || at < data.size(); at += kAttachmentPiece, ++seq) {
    piece = crypto::base64(data.substr(at, kAttachmentPiece));
    st.execute(true);
  }
}

std::string read_attachment(records::Env& env, std::int64_t mail_id, int index, std::size_t offset, std::size_t max) {
  std::string out;
  long long id = mail_id;
  int seq = static_cast<int>(offset / kAttachmentPiece);
  std::size_t skip = offset % kAttachmentPiece;
  std::string piece;
  soci::indicator ind = soci::i_null;
  soci::statement st = (env.sql().prepare << "SELECT data FROM mail_attachment_piece WHERE mail_id = :m AND idx = :i AND seq = :s",
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

void sweep_attachments(records::Env& env) {
  env.sql() << "DELETE FROM mail_attachment_piece WHERE NOT EXISTS "
               "(SELECT 1 FROM mail_mail WHERE mail_mail.id = mail_attachment_piece.mail_id)";
}

}  // namespace juniper::mail
