// multipart/form-data (RFC 7578): what a browser sends for a form with a file field, read by
// GMime from an upload spooled to disk. Text fields come into memory (bounded); the files are
// written one after the other into a file of the caller's, never held in memory.
#pragma once

#include "mail/mime/message.hpp"

#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace juniper::mail::mime {

struct FormFile {
  std::string field;         // the form field's name
  std::string filename;      // as the browser sent it (UTF-8)
  std::string content_type;  // "type/subtype", lower case; application/octet-stream when not given
  std::size_t offset = 0;    // where its bytes start in the caller's file
  std::size_t size = 0;
};

struct FormData {
  std::vector<std::pair<std::string, std::string>> fields;  // the text fields, in order
  std::vector<FormFile> files;                              // a file field left empty is not one
  // The first text field of that name.
  std::optional<std::string> field(std::string_view name) const;
};

struct FormLimits {
  std::size_t max_parts = 100;             // fields and files together
  std::size_t max_text = 4 * 1024 * 1024;  // all the text fields together
};

// Says what is wrong with the form, for the person who sent it.
class FormError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// `content_type` is the request's (multipart/form-data with its boundary); the body is the first
// `size` bytes of `fd` (the descriptor stays the caller's). The files' bytes go to the descriptor
// `file` gives, called at the first file. Throws FormError when the body is not such a form or
// has more parts or text than `limits`; std::runtime_error when a file cannot be written.
FormData parse_form_data(std::string_view content_type, int fd, std::size_t size, const AttachmentFile& file,
                         const FormLimits& limits = {});
// The same from a body in memory.
FormData parse_form_data(std::string_view content_type, std::string_view body, const AttachmentFile& file,
                         const FormLimits& limits = {});

}  // namespace juniper::mail::mime
