#include "web/form.hpp"

namespace juniper::web {
namespace {

bool is_multipart(std::string_view type) {
  const std::string_view kind = type.substr(0, type.find(';'));
  return http::iequals(kind.substr(0, kind.find_last_not_of(" \t") + 1), "multipart/form-data");
}

}  // namespace

bool is_multipart_form(const http::Request& req) { return is_multipart(req.header("Content-Type").value_or("")); }

SubmittedForm read_form(const http::Request& req, const std::filesystem::path& spool_dir, const mail::mime::FormLimits& limits) {
  SubmittedForm form;
  const std::string type = req.header("Content-Type").value_or("");
  if (!is_multipart(type)) {
    form.data.fields = req.form_params();
    return form;
  }
  const mail::mime::AttachmentFile file = [&] { return form.file_bytes.emplace(Spooled::file_in(spool_dir)).fd(); };
  if (req.body_file && req.body_file->in_file()) {
    form.data = mail::mime::parse_form_data(type, req.body_file->fd(), req.body_file->size(), file, limits);
  } else {
    form.data = mail::mime::parse_form_data(type, req.body_file ? req.body_file->memory() : req.body, file, limits);
  }
  if (form.file_bytes) form.file_bytes->written_directly();
  return form;
}

}  // namespace juniper::web
