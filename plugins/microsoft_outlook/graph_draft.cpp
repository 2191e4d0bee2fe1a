// Messages larger than Graph takes in one request (4 MB): the host leaves attachments over 3 MB
// out of the MIME (mail.transport's "attachments_apart_above"), and the largest others while
// the rest would not fit ("message_max"); the rest becomes a draft (POST .../messages, MIME).
// Each attachment apart goes up in pieces read from the host: through an upload session from
// 3 MB, else in one POST .../attachments (Graph's rule). Then the draft is sent; a draft that
// cannot be sent is deleted again.
#include "graph_draft.hpp"

#include "graph_call.hpp"

namespace outlook::graph {
namespace {

using detail::call;

// Pieces of an upload: a multiple of 320 KiB under Graph's 4 MB per request.
constexpr std::size_t kPiece = 9u * 320u * 1024u;
constexpr std::size_t kMaxAttachment = 150u << 20;

json failed(const std::string& reason) { return {{"outcome", "failed"}, {"reason", reason}}; }

std::string mb(std::size_t bytes) { return std::to_string((bytes + (1u << 20) - 1) >> 20) + " MB"; }

// A 403 while making the draft: Graph needs Mail.ReadWrite there, not only Mail.Send.
json draft_refused(const json& server, const std::string& mailbox, const sdk::Context::HttpReply& r) {
  json out = outcome_of(r.status, r.body, r.header("retry-after"), mailbox, mailbox, app_only(server));
  if (r.status != 403) return out;
  const std::string why =
      "Microsoft Graph answered 403 while preparing a message over 4 MB (a draft with its attachments "
      "uploaded apart), which needs Mail.ReadWrite for " +
      mailbox + ": ";
  out["reason"] = why + (app_only(server) ? "grant the app registration Mail.ReadWrite (Application) with admin consent."
                                          : "reconnect the Outlook account (Connect your Outlook account) and accept it.");
  return out;
}

class Draft {
 public:
  Draft(sdk::Context& ctx, std::int64_t server_id, std::string base) : ctx_(ctx), id_(server_id), base_(std::move(base)) {}
  ~Draft() {
    if (!message_.empty() && !sent_) {  // best effort: a draft left over is only clutter
      try {
        (void)call(ctx_, kOutgoing, id_, "DELETE", url());
      } catch (const std::exception&) {
      }
    }
  }
  Draft(const Draft&) = delete;
  Draft& operator=(const Draft&) = delete;

  std::string url() const { return base_ + "messages/" + sdk::url_encode(message_); }
  void created(std::string message_id) { message_ = std::move(message_id); }
  void sent() { sent_ = true; }

 private:
  sdk::Context& ctx_;
  std::int64_t id_;
  std::string base_;
  std::string message_;
  bool sent_ = false;
};

// An attachment under 3 MB in one request (Graph wants no upload session for those).
std::optional<json> attach(sdk::Context& ctx, const Draft& draft, const json& server, const std::string& mailbox,
                           std::int64_t mail_id, const json& a) {
  const std::string name = a.value("filename", "attachment");
  const std::size_t size = a.value("size", std::size_t{0});
  const std::string data = ctx.mail_attachment(mail_id, a.value("index", 0), 0, static_cast<std::int32_t>(size));
  if (data.size() != size)
    return json{{"outcome", "retry"}, {"reason", "the host handed fewer bytes of \"" + name + "\" than announced."}};
  json item = {{"@odata.type", "#microsoft.graph.fileAttachment"}, {"name", name}, {"contentBytes", base64(data)}};
  if (!a.value("content_type", "").empty()) item["contentType"] = a.value("content_type", "");
  const auto r = call(ctx, kOutgoing, server["id"].get<std::int64_t>(), "POST", draft.url() + "/attachments", item.dump(),
                      "application/json");
  if (r.status != 201) return draft_refused(server, mailbox, r);
  return std::nullopt;
}

// One attachment through an upload session (or, under 3 MB, attach); nullopt when it is there.
std::optional<json> upload(sdk::Context& ctx, const Draft& draft, const json& server, const std::string& mailbox,
                           std::int64_t mail_id, const json& a) {
  const std::string name = a.value("filename", "attachment");
  const std::size_t size = a.value("size", std::size_t{0});
  if (size > kMaxAttachment) {
    return failed("The attachment \"" + name + "\" is " + mb(size) +
                  ": Microsoft Graph takes attachments up to 150 MB. Send it as a link, or through SMTP.");
  }
  // Under 3 MB in one POST, unless its base64 and the JSON around it would pass 4 MB.
  if (size < kApartAbove && (size + 2) / 3 * 4 + 4096 <= kMaxRequest) return attach(ctx, draft, server, mailbox, mail_id, a);
  json item = {{"attachmentType", "file"}, {"name", name}, {"size", size}};
  if (!a.value("content_type", "").empty()) item["contentType"] = a.value("content_type", "");
  const auto s = call(ctx, kOutgoing, server["id"].get<std::int64_t>(), "POST", draft.url() + "/attachments/createUploadSession",
                      json{{"AttachmentItem", item}}.dump(), "application/json");
  if (s.status != 201) return draft_refused(server, mailbox, s);
  const std::string upload_url = json::parse(s.body).value("uploadUrl", "");
  if (upload_url.empty())
    return json{{"outcome", "retry"}, {"reason", "Microsoft Graph gave no upload URL for \"" + name + "\"."}};
  const int index = a.value("index", 0);
  for (std::size_t at = 0; at < size;) {
    const std::string piece = ctx.mail_attachment(mail_id, index, static_cast<std::int64_t>(at), kPiece);
    if (piece.empty())
      return json{{"outcome", "retry"}, {"reason", "the host handed fewer bytes of \"" + name + "\" than announced."}};
    const std::string range =
        "bytes " + std::to_string(at) + "-" + std::to_string(at + piece.size() - 1) + "/" + std::to_string(size);
    // The upload URL carries its own authorisation: Graph refuses a bearer token there.
    const auto r =
        ctx.http("PUT", upload_url, {{"Content-Range", range}, {"Content-Type", "application/octet-stream"}}, piece, 120);
    if (r.status != 200 && r.status != 201)
      return outcome_of(r.status, r.body, r.header("retry-after"), mailbox, mailbox, app_only(server));
    at += piece.size();
  }
  return std::nullopt;
}

}  // namespace

json deliver_as_draft(sdk::Context& ctx, const json& server, const std::string& mailbox, const std::string& from,
                      const json& payload, const std::string& mime_base64) {
  if (mime_base64.size() > kMaxRequest) {
    return failed("The message is " + mb(mime_base64.size()) +
                  " once encoded without its attachments: larger than "
                  "the 4 MB Microsoft Graph takes in one request. Shorten its text, or send this server's mail through SMTP.");
  }
  const std::int64_t id = server["id"].get<std::int64_t>();
  const std::string base = endpoint(ctx) + mailbox_path(kOutgoing, server, mailbox);
  Draft draft(ctx, id, base);
  const auto d = call(ctx, kOutgoing, id, "POST", base + "messages", mime_base64, "text/plain");
  if (d.status != 201) return draft_refused(server, mailbox, d);
  draft.created(json::parse(d.body).value("id", ""));
  const std::int64_t mail_id = payload.value("mail_id", std::int64_t{0});
  for (const auto& a : payload.value("attachments", json::array())) {
    if (auto stop = upload(ctx, draft, server, mailbox, mail_id, a)) return *stop;
  }
  const auto r = call(ctx, kOutgoing, id, "POST", draft.url() + "/send", "", nullptr);
  json out = outcome_of(r.status, r.body, r.header("retry-after"), mailbox, from, app_only(server));
  if (out["outcome"] == "sent") draft.sent();
  return out;
}

}  // namespace outlook::graph
