// A submitted form, whichever way the browser encoded it: x-www-form-urlencoded, or
// multipart/form-data when it has a file field (an upload the server spooled to disk, or a small
// body in memory). Uploaded files are written one after the other into one unlinked file.
#pragma once

#include "core/spooled.hpp"
#include "http/request.hpp"
#include "mail/mime/form_data.hpp"

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace juniper::web {

struct SubmittedForm {
  mail::mime::FormData data;
  std::optional<Spooled> file_bytes;  // the files' bytes (data.files say where each is)

  std::string value(std::string_view name) const { return data.field(name).value_or(""); }
};

// Throws mail::mime::FormError when a multipart body cannot be read as a form or is over
// `limits`, std::system_error when the spool folder cannot take the files.
SubmittedForm read_form(const http::Request& req, const std::filesystem::path& spool_dir,
                        const mail::mime::FormLimits& limits = {});

// True for a multipart/form-data Content-Type.
bool is_multipart_form(const http::Request& req);

}  // namespace juniper::web
