#include "mail/prepare.hpp"

#include "core/crypto.hpp"
#include "mail/address.hpp"
#include "mail/mime/message.hpp"

#include <nlohmann/json.hpp>

#include <stdexcept>

namespace juniper::mail {
namespace {

std::vector<std::string> split_header(const std::string& list) {
  std::vector<std::string> out;
  if (list.empty()) return out;
  for (const auto& m : parse_mailboxes(list)) out.push_back(m.name.empty() ? m.address : formataddr(m.name, m.address));
  return out;
}

mime::OutgoingMessage message_for(const QueuedMail& m, const std::string& from_header, std::size_t apart_above,
                                  std::vector<ApartAttachment>& apart) {
  mime::OutgoingMessage msg;
  msg.from = from_header;
  msg.to = split_header(m.email_to);
  msg.cc = split_header(m.email_cc);
  msg.subject = m.subject;
  msg.text_body = m.body_text;
  msg.html_body = m.body_html;
  msg.message_id = m.message_id;
  if (!m.attachments_json.empty()) {
    for (const auto& a : nlohmann::json::parse(m.attachments_json)) {
      std::string data = crypto::base64_decode(a.value("data", ""));
      if (apart_above > 0 && data.size() > apart_above) {
        apart.push_back({a.value("filename", ""), a.value("content_type", ""), std::move(data)});
      } else {
        msg.attachments.push_back({a.value("filename", ""), a.value("content_type", ""), std::move(data)});
      }
    }
  }
  return msg;
}

}  // namespace

Prepared prepare(const QueuedMail& mail, const std::string& from_header, std::size_t apart_above) noexcept {
  Prepared p;
  try {
    for (const auto* list : {&mail.email_to, &mail.email_cc, &mail.email_bcc}) {
      for (const auto& m : list->empty() ? std::vector<Mailbox>{} : email_split(*list)) {
        try {
          p.recipients.push_back(to_ascii_address(m.address));
          if (list == &mail.email_bcc) ++p.hidden;
        } catch (const std::exception& e) {
          throw std::runtime_error("the recipient " + m.address + " cannot be carried by SMTP (" + e.what() + ")");
        }
      }
    }
    p.data = mime::build(message_for(mail, from_header, apart_above, p.apart));
  } catch (const std::exception& e) {
    p.error = std::string("cannot prepare this mail: ") + e.what() + ". Correct the mail (or cancel it) and retry.";
  } catch (...) {
    p.error = "cannot prepare this mail: unexpected error. Correct the mail (or cancel it) and retry.";
  }
  return p;
}

}  // namespace juniper::mail
