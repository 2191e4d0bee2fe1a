#include "mail/records.hpp"

namespace juniper::mail {
namespace {

using records::FieldDef;
using records::FieldType;

FieldDef field(std::string name, FieldType type, std::string label, std::optional<std::string> def = std::nullopt) {
  FieldDef f;
  f.name = std::move(name);
  f.type = type;
  f.label = std::move(label);
  f.default_value = std::move(def);
  f.owner = "base";
  return f;
}
FieldDef required(FieldDef f) {
  f.required = true;
  return f;
}
FieldDef readonly(FieldDef f) {
  f.readonly = true;
  return f;
}
FieldDef helped(FieldDef f, std::string help) {
  f.help = std::move(help);
  return f;
}
// Shown only where `condition` ("field=value") holds: a password only for password logins.
FieldDef shown_if(FieldDef f, std::string condition) {
  f.shown_if = std::move(condition);
  return f;
}

// Form sections, Odoo's names.
constexpr const char* kConnection = "Connection Information";
constexpr const char* kSecurity = "Security and Authentication";
constexpr const char* kLimits = "Limits";
constexpr const char* kServer = "Server Information";
constexpr const char* kLogin = "Login Information";
constexpr const char* kAdvanced = "Advanced";

FieldDef in_group(std::string group, FieldDef f) {
  f.group = std::move(group);
  return f;
}

FieldDef apart(FieldDef f) {
  f.apart = true;
  return f;
}

FieldDef unlisted(FieldDef f) {
  f.unlisted = true;
  return f;
}

FieldDef listed(FieldDef f) {
  f.listed = true;
  return f;
}
FieldDef choice(std::string name, std::string label, std::vector<std::pair<std::string, std::string>> values, std::string def) {
  FieldDef f = field(std::move(name), FieldType::selection, std::move(label), std::move(def));
  for (auto& [v, l] : values) f.choices.push_back({v, l, "base"});
  return f;
}
FieldDef many2one(std::string name, std::string label, std::string target) {
  FieldDef f = field(std::move(name), FieldType::many2one, std::move(label));
  f.relation = std::move(target);
  return f;
}

records::RecordType type(std::string name, std::string label, std::string order, std::vector<FieldDef> fields,
                         std::vector<std::vector<std::string>> indexes = {}) {
  records::RecordType t;
  t.name = std::move(name);
  t.label = std::move(label);
  t.order = std::move(order);
  t.owner = "base";
  t.fields = std::move(fields);
  t.indexes = std::move(indexes);
  return t;
}

}  // namespace

// Long: the declaration table of the mail record types: data, not logic.
void declare_records(records::Registry& registry) {
  registry.add_type(
      type(kOutgoingServer, "Outgoing Mail Servers", "sequence, id",
           {required(field("name", FieldType::chars, "Name")), field("from_filter", FieldType::chars, "FROM Filtering"),
            // Odoo's sections of the server form (the list's columns follow this order).
            in_group(kConnection, field("smtp_host", FieldType::chars, "SMTP Server")),
            in_group(kConnection, field("smtp_port", FieldType::integer, "SMTP Port", "25")),
            in_group(kSecurity, choice("smtp_encryption", "Connection Encryption",
                                       {{"none", "None"}, {"starttls", "TLS (STARTTLS)"}, {"ssl", "SSL/TLS"}}, "none")),
            in_group(kSecurity, choice("smtp_authentication", "Authenticate with", {{"login", "Username"}}, "login")),
            in_group(kSecurity, field("smtp_user", FieldType::chars, "Username")),
            // An OAuth login (a module's choice) has no password to show.
            in_group(kSecurity, shown_if(field("smtp_pass", FieldType::secret, "Password"), "smtp_authentication=login")),
            field("sequence", FieldType::integer, "Priority", "10"),
            // Recipients per SMTP transaction: a mail to more goes out in several.
            // 100 is what RFC 5321 says every server must accept.
            in_group(kLimits, helped(field("max_recipients", FieldType::integer, "Max Recipients per Message", "100"),
                                     "A mail to more recipients goes out in several transactions. Exchange Online takes 500; "
                                     "0: no limit.")),
            // SMTP sessions one queue run may keep open to this server at once.
            in_group(kLimits, helped(field("max_connections", FieldType::integer, "Max Connections", "1"),
                                     "Sessions one queue run keeps open to this server at once (1 to 16).")),
            // Mails this server takes per minute (Exchange Online: 30); 0: no limit.
            in_group(kLimits, helped(field("max_per_minute", FieldType::integer, "Max Mails per Minute", "0"),
                                     "Mails past this wait their turn instead of being refused. Exchange Online allows 30 "
                                     "per mailbox; 0: no limit.")),
            // Recipients per rolling 24 hours (Exchange Online: 10 000); 0: no limit.
            in_group(kLimits, helped(field("max_recipients_per_day", FieldType::integer, "Max Recipients per Day", "0"),
                                     "Recipients over any 24 hours; past it mails wait. Exchange Online allows 10 000 per "
                                     "mailbox; 0: no limit.")),
            field("active", FieldType::boolean, "Active", "true")}));
  registry.add_type(type(
      kIncomingServer, "Incoming Mail Servers", "id",
      {required(field("name", FieldType::chars, "Name")),
       in_group(kServer, choice("server_type", "Server Type", {{"imap", "IMAP Server"}}, "imap")),
       in_group(kServer, field("server", FieldType::chars, "Server Name")),
       in_group(kServer, field("port", FieldType::integer, "Port", "993")),
       in_group(kServer, field("is_ssl", FieldType::boolean, "SSL/TLS", "true")),
       in_group(kLogin, field("user", FieldType::chars, "Username")),
       in_group(kLogin, shown_if(field("password", FieldType::secret, "Password"), "server_type=imap")),
       // Odoo's "Keep Attachments": the bytes of a fetched message's attachments are stored with it.
       in_group(kAdvanced, helped(field("attach", FieldType::boolean, "Keep Attachments", "true"),
                                  "Store the attachments of fetched messages, to download them from the message's page. "
                                  "Off: only their names and sizes are kept.")),
       readonly(choice("state", "Status", {{"draft", "Not Confirmed"}, {"done", "Confirmed"}}, "draft")),
       field("active", FieldType::boolean, "Active", "true"), readonly(field("date", FieldType::datetime, "Last Fetch Date")),
       readonly(field("error_message", FieldType::text, "Last Error")),
       readonly(field("error_date", FieldType::datetime, "Last Error Date"))}));
  registry.add_type(
      // Newest first, as Odoo lists mails (and messages, below).
      type(kMail, "Emails", "id desc",
           {required(field("email_from", FieldType::chars, "From")), field("email_to", FieldType::text, "To"),
            field("email_cc", FieldType::text, "Cc"), field("email_bcc", FieldType::text, "Bcc"),
            field("subject", FieldType::chars, "Subject"),
            // Apart from the row: the queue updates a mail's state and lease several times, and
            // SQLite would copy a 200 kB body again each time.
            apart(field("body_text", FieldType::text, "Body")), apart(field("body_html", FieldType::text, "HTML Body")),
            readonly(field("attachments", FieldType::text, "Attachments")),
            unlisted(readonly(field("message_id", FieldType::chars, "Message-Id"))),
            readonly(choice("state", "Status",
                            {{"outgoing", "Outgoing"},
                             {"sending", "Sending"},
                             {"sent", "Sent"},
                             {"exception", "Delivery Failed"},
                             {"cancel", "Cancelled"}},
                            "outgoing")),
            many2one("mail_server_id", "Outgoing Mail Server", kOutgoingServer),
            readonly(many2one("server_used_id", "Sent Through", kOutgoingServer)),
            // In the list too: why a mail waits (paced, throttled, a reconnect) and until when.
            listed(readonly(field("failure_reason", FieldType::text, "Failure Reason"))),
            readonly(field("attempts", FieldType::integer, "Attempts", "0")),
            // Recipients already served by earlier transactions of a split mail:
            // a retry goes on from there instead of sending them the mail again.
            readonly(field("recipients_done", FieldType::integer, "Recipients Delivered", "0")),
            readonly(field("recipient_count", FieldType::integer, "Recipients")),  // when sent
            listed(readonly(field("next_try", FieldType::datetime, "Next Try"))),
            // The server whose fix it waits for (a reconnect, a grant): released
            // by that fix (host call mail_release), not only by the clock.
            readonly(many2one("waiting_server_id", "Waiting On", kOutgoingServer)),
            readonly(field("lease_until", FieldType::datetime, "Claimed Until")),
            readonly(field("lease_owner", FieldType::chars, "Claimed By")),
            readonly(field("date_sent", FieldType::datetime, "Sent On")),
            readonly(field("create_date", FieldType::datetime, "Created On"))},
           // the queue's claim looks for due mails; the claimed rows are read back by owner
           // ...and a paced server's sends of the last minute; the list sorts by sender or
           // subject without reading 100 000 rows (columns the queue never updates)
           {{"state", "next_try"}, {"lease_owner"}, {"server_used_id", "date_sent"}, {"email_from"}, {"subject"}}));
  // One row per incident an administrator was mailed about (app/alerts): at most once a day.
  registry.add_type(type("mail.alert", "Alerts Mailed", "id",
                         {readonly(field("key", FieldType::chars, "Incident")), readonly(field("text", FieldType::text, "Alert")),
                          readonly(field("last_sent", FieldType::datetime, "Last Mailed"))},
                         {{"key"}}));
  registry.add_type(type(
      kMessage, "Incoming Messages", "id desc",
      {unlisted(field("message_id", FieldType::chars, "Message-Id")), field("email_from", FieldType::chars, "From"),
       field("email_to", FieldType::text, "To"), field("email_cc", FieldType::text, "Cc"),
       field("subject", FieldType::chars, "Subject"), field("date", FieldType::datetime, "Date"),
       field("body_text", FieldType::text, "Body"), field("body_html", FieldType::text, "HTML Body"),
       field("attachments", FieldType::text, "Attachments"), field("raw_size", FieldType::integer, "Size"),
       many2one("fetchmail_server_id", "Incoming Mail Server", kIncomingServer),
       field("parse_error", FieldType::text, "Parse Error"), field("raw", FieldType::text, "Original Message"),
       unlisted(readonly(field("content_hash", FieldType::chars, "Content SHA-256")))},
      // the fetch's duplicate check; lookups by Message-ID; the list's sorts
      {{"fetchmail_server_id", "content_hash"}, {"message_id", "fetchmail_server_id"}, {"email_from"}, {"subject"}, {"date"}}));
  // Written by Compose and `mail send`, or by a fetch: the pages offer no "New" for them.
  for (const char* made_by_host : {kMail, kMessage}) registry.type_mut(made_by_host).creatable = false;
  records::SettingDef custom;
  custom.name = kCustomServersSetting;
  custom.config_parameter = "mail.external_email_server_default";
  custom.type = FieldType::boolean;
  custom.label = "Custom Email Servers";
  custom.default_value = "false";
  custom.group = "Discuss";
  custom.help = "Use your own email servers";
  custom.owner = "base";
  registry.add_setting(std::move(custom));
}

}  // namespace juniper::mail
