#include "mail/queue.hpp"

#include "core/crypto.hpp"
#include "core/data_dir.hpp"
#include "core/errors.hpp"
#include "mail/address.hpp"
#include "mail/attachment_store.hpp"
#include "mail/mime/message.hpp"
#include "mail/records.hpp"
#include "records/params.hpp"
#include "records/record_service.hpp"

#include <ctime>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace juniper::mail {
namespace {

constexpr std::size_t kDefaultMaxSize = 25u * 1024 * 1024;

void check_header(std::string_view name, std::string_view value) {
  if (has_crlf_or_nul(value)) {
    throw UserError("the " + std::string(name) +
                    " contains a line break or NUL character; remove it (header injection is refused)");
  }
}

void check_addresses(std::string_view name, const std::string& value) {
  if (value.empty()) return;
  check_header(name, value);
  if (const auto why = validate_address_list(value)) throw UserError("invalid " + std::string(name) + " address: " + *why);
  // What the envelope will carry: a non-ASCII local part needs SMTPUTF8, which Juniper's
  // transport does not speak, so it is refused here rather than jamming the queue later.
  for (const auto& m : email_split(value)) {
    try {
      (void)to_ascii_address(m.address);
    } catch (const std::exception& e) {
      throw UserError("the " + std::string(name) + " address " + m.address +
                      " cannot be sent: its part before the @ is not plain ASCII (internationalised mailbox names need "
                      "SMTPUTF8, which is not supported). Use the recipient's ASCII address.");
    }
  }
}

std::size_t file_size(const std::string& path) {
  std::error_code ec;
  const auto n = std::filesystem::file_size(path, ec);
  if (ec) throw UserError("cannot read the attachment " + path + ": " + ec.message());
  return static_cast<std::size_t>(n);
}

std::string domain_of(const std::string& from) {
  const auto d = email_domain_extract(from);
  return d ? *d : "localhost";
}

std::optional<std::string> opt(const soci::row& r, std::size_t i) {
  if (r.get_indicator(i) == soci::i_null) return std::nullopt;
  return r.get<std::string>(i);
}

}  // namespace

std::string iso_time(std::chrono::system_clock::time_point t) {
  const std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::chrono::seconds backoff(int attempts) {
  const int n = std::min(std::max(attempts, 1), 7);
  return std::chrono::seconds(std::min(60 << (n - 1), 3600));  // 1, 2, 4, ... 60 minutes
}

std::int64_t enqueue(records::Env& env, const Draft& d) {
  check_header("From", d.email_from);
  if (d.email_from.empty()) throw UserError("a mail needs a From address");
  if (const auto why = validate_address_list(d.email_from)) throw UserError("invalid From address: " + *why);
  if (email_split(d.email_from).size() != 1) throw UserError("the From header must hold exactly one address");
  check_addresses("From", d.email_from);
  check_addresses("To", d.email_to);
  check_addresses("Cc", d.email_cc);
  check_addresses("Bcc", d.email_bcc);
  check_header("Subject", d.subject);
  if (d.email_to.empty() && d.email_cc.empty() && d.email_bcc.empty()) {
    throw UserError("a mail needs at least one recipient (To, Cc or Bcc)");
  }
  std::size_t size = d.body_text.size() + d.body_html.size() + d.subject.size();
  nlohmann::json attachments = nlohmann::json::array();
  for (const auto& a : d.attachments) {
    check_header("attachment name", a.filename);
    const std::size_t bytes = a.spooled ? a.size : a.path.empty() ? a.data.size() : file_size(a.path);
    size += bytes;
    attachments.push_back({{"filename", a.filename}, {"content_type", a.content_type}, {"size", bytes}});
  }
  std::size_t max = kDefaultMaxSize;
  if (const auto p = records::param_get(env, "mail.max_size")) max = std::stoull(*p);
  if (size > max) {
    throw UserError("the mail is " + std::to_string(size / 1024) + " kB, over the limit of " + std::to_string(max / 1024) +
                    " kB (system parameter mail.max_size)");
  }
  nlohmann::json v = {{"email_from", d.email_from}, {"email_to", d.email_to},
                      {"email_cc", d.email_cc},     {"email_bcc", d.email_bcc},
                      {"subject", d.subject},       {"body_text", d.body_text},
                      {"body_html", d.body_html},   {"state", "outgoing"},
                      {"create_date", now_iso()},   {"message_id", mime::make_message_id(domain_of(d.email_from))}};
  if (!d.attachments.empty()) v["attachments"] = attachments.dump();
  if (d.mail_server_id) {
    records::read(env, kOutgoingServer, *d.mail_server_id);  // refuses an unknown server
    v["mail_server_id"] = *d.mail_server_id;
  }
  const std::int64_t id = records::create(env, kMail, v);
  for (std::size_t i = 0; i < d.attachments.size(); ++i) {
    const AttachmentFile& a = d.attachments[i];
    if (a.spooled) {
      store_attachment(env, id, static_cast<int>(i), *a.spooled, a.offset, a.size, Owner::mail);
      continue;
    }
    if (a.path.empty()) {
      store_attachment(env, id, static_cast<int>(i), a.data);
      continue;
    }
    std::ifstream in(a.path, std::ios::binary);
    if (!in || store_attachment(env, id, static_cast<int>(i), in) != attachments[i]["size"].get<std::size_t>()) {
      throw UserError("cannot read the attachment " + a.path + " (it changed or went away while the mail was queued)");
    }
  }
  return id;
}

std::vector<MailAttachment> parse_attachments(const std::string& json) {
  std::vector<MailAttachment> out;
  if (json.empty()) return out;
  const auto list = nlohmann::json::parse(json);
  if (!list.is_array()) throw std::invalid_argument("the attachments are not a list");
  for (const auto& a : list) {
    if (!a.is_object()) throw std::invalid_argument("an attachment is not an object");
    MailAttachment m;
    m.filename = a.value("filename", "");
    m.content_type = a.value("content_type", "");
    m.index = static_cast<int>(out.size());
    if (a.contains("data")) {  // queued before the attachment store
      m.data = crypto::base64_decode(a.value("data", ""));
      m.loaded = true;
      m.size = m.data.size();
    } else {
      m.size = a.value("size", std::size_t{0});
    }
    out.push_back(std::move(m));
  }
  return out;
}

void plan_attachments(std::vector<MailAttachment>& attachments, std::size_t body_bytes, const AttachmentPlan& plan) {
  // Base64 lines of 76 characters and CRLF carry 57 bytes each (78 / 57: +37 %); each part's
  // headers and boundary get a margin.
  auto encoded = [](std::size_t n) { return (n + 56) / 57 * 78 + 1024; };
  std::size_t estimate = encoded(body_bytes) + 4096;
  for (auto& a : attachments) {
    a.apart = plan.apart_above > 0 && a.size > plan.apart_above;
    if (!a.apart) estimate += encoded(a.size);
  }
  while (plan.message_max > 0 && estimate > plan.message_max) {
    MailAttachment* largest = nullptr;
    for (auto& a : attachments) {
      if (!a.apart && (largest == nullptr || a.size > largest->size)) largest = &a;
    }
    if (largest == nullptr) break;  // the text alone is too large: the module says so
    largest->apart = true;
    estimate -= encoded(largest->size);
  }
}

std::vector<QueuedMail> claim(records::Env& env, const std::string& owner, std::size_t limit, std::chrono::seconds lease,
                              TimePoint now) {
  const std::string now_s = iso_time(now);
  const std::string until = iso_time(now + lease);
  const std::string lim = std::to_string(limit);
  // SKIP LOCKED: several processes on one PostgreSQL database never claim the same mail.
  const std::string pick =
      "SELECT id FROM mail_mail WHERE ((state = 'outgoing' AND (next_try IS NULL OR next_try <= :now1)) "
      "OR (state = 'sending' AND lease_until < :now2)) ORDER BY id LIMIT " +
      lim + (env.db.is_postgres() ? " FOR UPDATE SKIP LOCKED" : "");
  std::vector<std::int64_t> ids;
  {
    soci::rowset<soci::row> rs =
        (env.sql().prepare << "UPDATE mail_mail SET state = 'sending', lease_owner = :o, lease_until = :u WHERE id IN (" + pick +
                                  ") RETURNING CAST(id AS TEXT)",
         soci::use(owner), soci::use(until), soci::use(now_s), soci::use(now_s));
    for (const auto& r : rs) ids.push_back(std::stoll(r.get<std::string>(0)));
  }
  std::vector<QueuedMail> out;
  if (ids.empty()) return out;
  // One read for the whole batch (the rows this claim just took), in id order; the bodies stay
  // in the database until each mail is prepared (load_body), so memory does not follow the batch.
  soci::rowset<soci::row> rows =
      (env.sql().prepare << "SELECT CAST(id AS TEXT), email_from, email_to, email_cc, email_bcc, subject, '', "
                            "'', message_id, CAST(mail_server_id AS TEXT), CAST(attempts AS TEXT), "
                            "CAST(recipients_done AS TEXT), create_date "
                            "FROM mail_mail WHERE lease_owner = :o AND lease_until = :u AND state = 'sending' ORDER BY id",
       soci::use(owner), soci::use(until));
  for (const auto& r : rows) {
    QueuedMail m;
    m.id = std::stoll(r.get<std::string>(0));
    m.email_from = opt(r, 1).value_or("");
    m.email_to = opt(r, 2).value_or("");
    m.email_cc = opt(r, 3).value_or("");
    m.email_bcc = opt(r, 4).value_or("");
    m.subject = opt(r, 5).value_or("");
    m.body_text = opt(r, 6).value_or("");
    m.body_html = opt(r, 7).value_or("");
    m.message_id = opt(r, 8).value_or("");
    if (const auto s = opt(r, 9)) m.mail_server_id = std::stoll(*s);
    m.attempts = std::stoi(opt(r, 10).value_or("0"));
    m.recipients_done = std::stoull(opt(r, 11).value_or("0"));
    m.create_date = opt(r, 12).value_or("");
    out.push_back(std::move(m));
  }
  return out;
}

void load_body(records::Env& env, QueuedMail& m, const AttachmentPlan& plan) {
  std::string attachments;
  // Straight into the mail's strings: through a soci::row each body was copied twice more.
  soci::indicator text_ind = soci::i_null, html_ind = soci::i_null, attachments_ind = soci::i_null;
  env.sql() << "SELECT b.body_text, b.body_html, m.attachments FROM mail_mail m "
               "LEFT JOIN mail_mail_apart b ON b.id = m.id WHERE m.id = :id",
      soci::use(m.id), soci::into(m.body_text, text_ind), soci::into(m.body_html, html_ind),
      soci::into(attachments, attachments_ind);
  if (text_ind != soci::i_ok) m.body_text.clear();
  if (html_ind != soci::i_ok) m.body_html.clear();
  if (attachments_ind != soci::i_ok) attachments.clear();
  try {
    m.attachments = parse_attachments(attachments);
  } catch (const std::exception& e) {
    m.body_error = std::string("its attachments cannot be read (") + e.what() + ")";
    return;
  }
  const std::size_t headers =
      m.email_from.size() + m.email_to.size() + m.email_cc.size() + m.email_bcc.size() + m.subject.size() + m.message_id.size();
  plan_attachments(m.attachments, m.body_text.size() + m.body_html.size() + headers, plan);
  for (auto& a : m.attachments) {
    if (a.loaded || a.apart) continue;
    try {
      a.data = read_attachment(env, m.id, a.index, 0, a.size);
    } catch (const std::invalid_argument&) {  // a damaged piece (not base64)
      a.data.clear();
    }
    if (a.data.size() != a.size) {
      m.body_error = "its attachment \"" + a.filename + "\" is missing or damaged in the attachment store";
      return;
    }
    a.loaded = true;
  }
}

void drop_body(QueuedMail& m) {
  std::string().swap(m.body_text);
  std::string().swap(m.body_html);
  std::vector<MailAttachment>().swap(m.attachments);
}

std::vector<std::int64_t> renew_lease(records::Env& env, const std::string& owner, std::chrono::seconds lease, TimePoint now) {
  const std::string until = iso_time(now + lease);
  std::vector<std::int64_t> held;
  soci::rowset<soci::row> rs = (env.sql().prepare << "UPDATE mail_mail SET lease_until = :u WHERE lease_owner = :o AND "
                                                     "state = 'sending' RETURNING CAST(id AS TEXT)",
                                soci::use(until), soci::use(owner));
  for (const auto& r : rs) held.push_back(std::stoll(r.get<std::string>(0)));
  return held;
}

void mark_sent(records::Env& env, std::int64_t id, std::optional<std::int64_t> server_id, const std::string& note,
               std::chrono::system_clock::time_point when, std::size_t recipients) {
  const std::string now = iso_time(when);
  const long long rcpt = static_cast<long long>(recipients);
  long long server = server_id.value_or(0);
  soci::indicator ind = server_id ? soci::i_ok : soci::i_null;
  soci::indicator note_ind = note.empty() ? soci::i_null : soci::i_ok;
  env.sql() << "UPDATE mail_mail SET state = 'sent', date_sent = :d, server_used_id = :s, failure_reason = :r, "
               "recipient_count = :c, waiting_server_id = NULL, lease_owner = NULL, lease_until = NULL WHERE id = :id",
      soci::use(now), soci::use(server, ind), soci::use(note, note_ind), soci::use(rcpt), soci::use(id);
}

void mark_waiting(records::Env& env, const QueuedMail& mail, const std::string& reason, std::chrono::seconds delay,
                  std::optional<std::int64_t> server, TimePoint now) {
  const std::string next = iso_time(now + delay);
  long long on = server.value_or(0);
  soci::indicator on_ind = server ? soci::i_ok : soci::i_null;
  env.sql() << "UPDATE mail_mail SET state = 'outgoing', failure_reason = :r, next_try = :n, waiting_server_id = :w, "
               "lease_owner = NULL, lease_until = NULL WHERE id = :id",
      soci::use(reason), soci::use(next), soci::use(on, on_ind), soci::use(mail.id);
}

std::int64_t release_waiting(records::Env& env, std::int64_t server_id) {
  soci::statement st = (env.sql().prepare << "UPDATE mail_mail SET next_try = NULL, waiting_server_id = NULL "
                                             "WHERE state = 'outgoing' AND waiting_server_id = :s",
                        soci::use(server_id));
  st.execute(true);
  return static_cast<std::int64_t>(st.get_affected_rows());
}

void mark_retry(records::Env& env, const QueuedMail& mail, const std::string& reason, TimePoint now) {
  const int attempts = mail.attempts + 1;
  mark_waiting(env, mail, reason, backoff(attempts), std::nullopt, now);
  env.sql() << "UPDATE mail_mail SET attempts = :a WHERE id = :id", soci::use(attempts), soci::use(mail.id);
}

void mark_exception(records::Env& env, std::int64_t id, const std::string& reason) {
  env.sql() << "UPDATE mail_mail SET state = 'exception', failure_reason = :r, lease_owner = NULL, lease_until = NULL "
               "WHERE id = :id",
      soci::use(reason), soci::use(id);
}

SentSince sent_since(records::Env& env, std::int64_t server_id, std::chrono::system_clock::time_point since) {
  const std::string from = iso_time(since);
  long long n = 0, rcpt = 0;
  std::string earliest;
  soci::indicator ind = soci::i_null, rcpt_ind = soci::i_null;
  env.sql() << "SELECT COUNT(*), SUM(CASE WHEN recipient_count > 0 THEN recipient_count ELSE 1 END), MIN(date_sent) "
               "FROM mail_mail WHERE server_used_id = :s AND date_sent > :f",
      soci::use(server_id), soci::use(from), soci::into(n), soci::into(rcpt, rcpt_ind), soci::into(earliest, ind);
  SentSince out;
  out.count = static_cast<std::size_t>(n);
  out.recipients = rcpt_ind == soci::i_ok ? static_cast<std::size_t>(rcpt) : 0;
  if (ind == soci::i_ok && !earliest.empty()) out.earliest = since - age_of(earliest, since);
  return out;
}

void mark_recipients_done(records::Env& env, std::int64_t id, std::size_t done) {
  const long long n = static_cast<long long>(done);
  env.sql() << "UPDATE mail_mail SET recipients_done = :n WHERE id = :id", soci::use(n), soci::use(id);
}

std::chrono::seconds age_of(const std::string& iso, std::chrono::system_clock::time_point now) {
  std::tm tm{};
  if (iso.size() < 19 || strptime(iso.substr(0, 19).c_str(), "%Y-%m-%dT%H:%M:%S", &tm) == nullptr) {
    return std::chrono::seconds(0);
  }
  const auto then = std::chrono::system_clock::from_time_t(timegm(&tm));
  return std::chrono::duration_cast<std::chrono::seconds>(now - then);
}

void retry(records::Env& env, std::int64_t id) {
  const auto rec = records::read(env, kMail, id);
  if (rec["state"] == "sent") throw UserError("mail " + std::to_string(id) + " was already sent");
  records::write(env, kMail, id, {{"state", "outgoing"}, {"attempts", 0}, {"next_try", nullptr}, {"failure_reason", nullptr}});
}

}  // namespace juniper::mail
