#include "mail/prepare.hpp"

#include "mail/address.hpp"
#include "mail/mime/message.hpp"

#include <stdexcept>

namespace juniper::mail {
namespace {

std::vector<std::string> split_header(const std::string& list) {
  std::vector<std::string> out;
  if (list.empty()) return out;
  for (const auto& m : parse_mailboxes(list)) out.push_back(m.name.empty() ? m.address : formataddr(m.name, m.address));
  return out;
}

mime::OutgoingMessage message_for(QueuedMail& m, const std::string& from_header, std::vector<ApartAttachment>& apart) {
  mime::OutgoingMessage msg;
  msg.from = from_header;
  msg.to = split_header(m.email_to);
  msg.cc = split_header(m.email_cc);
  msg.subject = m.subject;
  msg.text_body = m.body_text;
  msg.html_body = m.body_html;
  msg.message_id = m.message_id;
  for (auto& a : m.attachments) {
    if (a.apart) {
      apart.push_back({a.filename, a.content_type, a.size, a.index, a.loaded, std::move(a.data)});
    } else {
      if (!a.loaded) throw std::logic_error("attachment \"" + a.filename + "\" was not loaded");
      msg.attachments.push_back({a.filename, a.content_type, std::move(a.data)});
    }
  }
  return msg;
}

}  // namespace

Prepared prepare(QueuedMail& mail, const std::string& from_header) noexcept {
  Prepared p;
  try {
    if (!mail.body_error.empty()) throw std::runtime_error(mail.body_error);
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
    p.data = mime::build(message_for(mail, from_header, p.apart));
  } catch (const std::exception& e) {
    p.error = std::string("cannot prepare this mail: ") + e.what() + ". Correct the mail (or cancel it) and retry.";
  } catch (...) {
    p.error = "cannot prepare this mail: unexpected error. Correct the mail (or cancel it) and retry.";
  }
  return p;
}

}  // namespace juniper::mail
