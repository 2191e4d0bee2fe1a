#include "mail/mime/form_data.hpp"

#include "mail/mime/gmime_init.hpp"
#include "mail/mime/gobject.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <tuple>

namespace juniper::mail::mime {
namespace {

// How many times `delimiter` occurs in the stream (then rewound): a bound checked before GMime
// builds an object for every part.
std::size_t count_delimiters(GMimeStream* s, const std::string& delimiter) {
  std::size_t count = 0;
  std::string window;
  std::array<char, 64 * 1024> buf{};
  for (gssize n; (n = g_mime_stream_read(s, buf.data(), buf.size())) > 0;) {
    window.append(buf.data(), static_cast<std::size_t>(n));
    for (auto at = window.find(delimiter); at != std::string::npos; at = window.find(delimiter, at + delimiter.size())) ++count;
    window.erase(0, window.size() - std::min(window.size(), delimiter.size() - 1));  // a delimiter may straddle two reads
  }
  g_mime_stream_reset(s);
  return count;
}

std::string lower_mime_type(GMimeObject* part) {
  auto* type = g_mime_object_get_content_type(part);
  GText text(type ? g_mime_content_type_get_mime_type(type) : nullptr);
  std::string out = text ? text.get() : "application/octet-stream";
  std::transform(out.begin(), out.end(), out.begin(), [](char c) { return g_ascii_tolower(c); });
  return out;
}

// The encoded length of a part's content (an upper bound of its decoded length).
std::size_t encoded_length(GMimeDataWrapper* content) {
  GMimeStream* s = content ? g_mime_data_wrapper_get_stream(content) : nullptr;
  const gint64 n = s ? g_mime_stream_length(s) : 0;
  return n > 0 ? static_cast<std::size_t>(n) : 0;
}

std::string decoded_text(GMimeDataWrapper* content) {
  if (!content) return {};
  GRef<GMimeStream> out(g_mime_stream_mem_new());
  g_mime_data_wrapper_write_to_stream(content, out.get());
  GByteArray* bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(out.get()));
  return bytes ? std::string(reinterpret_cast<const char*>(bytes->data), bytes->len) : std::string();
}

// Appends the decoded content at the end of the caller's file (through a pipe stream, which
// does not fsync at every flush as an fs stream does); answers {offset, size}.
std::pair<std::size_t, std::size_t> write_file(GMimeDataWrapper* content, int fd) {
  const off_t start = ::lseek(fd, 0, SEEK_END);
  if (start < 0) throw std::runtime_error("cannot write an uploaded file: " + std::string(std::strerror(errno)));
  GRef<GMimeStream> out(g_mime_stream_pipe_new(fd));
  g_mime_stream_pipe_set_owner(GMIME_STREAM_PIPE(out.get()), FALSE);
  if (content && g_mime_data_wrapper_write_to_stream(content, out.get()) < 0)
    throw std::runtime_error("cannot write an uploaded file: " + std::string(std::strerror(errno)));
  const off_t end = ::lseek(fd, 0, SEEK_CUR);
  return {static_cast<std::size_t>(start), static_cast<std::size_t>(end - start)};
}

struct Reader {
  const AttachmentFile& file;
  const FormLimits& limits;
  FormData out;
  std::size_t text = 0;
  int fd = -1;

  void add(GMimeObject* part) {
    const char* name = g_mime_object_get_content_disposition_parameter(part, "name");
    if (!name || !GMIME_IS_PART(part)) return;  // not a form field (RFC 7578 4.2), or an obsolete nested multipart
    GMimeDataWrapper* content = g_mime_part_get_content(GMIME_PART(part));
    const char* filename = g_mime_object_get_content_disposition_parameter(part, "filename");
    if (!filename) return add_text(name, content);
    if (!*filename && decoded_size(content) == 0) return;  // a file field left empty
    if (fd < 0) fd = file();
    FormFile f{name, *filename ? filename : "attachment", lower_mime_type(part)};
    std::tie(f.offset, f.size) = write_file(content, fd);
    out.files.push_back(std::move(f));
  }

  void add_text(const char* name, GMimeDataWrapper* content) {
    text += encoded_length(content);
    if (text > limits.max_text) {
      throw FormError("the form's text is over " + std::to_string(limits.max_text / 1024) + " kB; send long texts as a file");
    }
    out.fields.emplace_back(name, decoded_text(content));
  }
};

FormData parse_stream(std::string_view content_type, GMimeStream* body, const AttachmentFile& file, const FormLimits& limits) {
  const std::string type_text(content_type);
  if (type_text.find_first_of("\r\n") != std::string::npos) throw FormError("the form's Content-Type is malformed");
  GRef<GMimeContentType> type(g_mime_content_type_parse(nullptr, type_text.c_str()));
  if (!type || !g_mime_content_type_is_type(type.get(), "multipart", "form-data"))
    throw FormError("the form was not sent as multipart/form-data");
  const char* boundary = g_mime_content_type_get_parameter(type.get(), "boundary");
  if (!boundary || !*boundary) throw FormError("the form's Content-Type has no boundary");
  if (count_delimiters(body, "--" + std::string(boundary)) > limits.max_parts + 1)
    throw FormError("the form has more than " + std::to_string(limits.max_parts) + " fields and files");

  // GMime reads a MIME part: the body preceded by its Content-Type, which came as an HTTP header.
  const std::string head = "Content-Type: " + type_text + "\r\n\r\n";
  GRef<GMimeStream> stream(g_mime_stream_cat_new());
  GRef<GMimeStream> head_stream(g_mime_stream_mem_new_with_buffer(head.data(), head.size()));
  g_mime_stream_cat_add_source(GMIME_STREAM_CAT(stream.get()), head_stream.get());
  g_mime_stream_cat_add_source(GMIME_STREAM_CAT(stream.get()), body);
  GRef<GMimeParser> parser(g_mime_parser_new_with_stream(stream.get()));
  g_mime_parser_set_persist_stream(parser.get(), TRUE);  // parts stay ranges of the upload
  GRef<GMimeObject> root(g_mime_parser_construct_part(parser.get(), nullptr));
  if (!root || !GMIME_IS_MULTIPART(root.get())) throw FormError("the form cannot be read as multipart/form-data");

  Reader reader{file, limits, {}};
  auto* parts = GMIME_MULTIPART(root.get());
  for (int i = 0; i < g_mime_multipart_get_count(parts); ++i) reader.add(g_mime_multipart_get_part(parts, i));
  return std::move(reader.out);
}

}  // namespace

std::optional<std::string> FormData::field(std::string_view name) const {
  const auto it = std::find_if(fields.begin(), fields.end(), [&](const auto& f) { return f.first == name; });
  if (it == fields.end()) return std::nullopt;
  return it->second;
}

FormData parse_form_data(std::string_view content_type, int fd, std::size_t size, const AttachmentFile& file,
                         const FormLimits& limits) {
  init_gmime();               // before the first GMime object (its types are registered there)
  const int own = ::dup(fd);  // the stream closes its descriptor
  if (own < 0) throw std::runtime_error("cannot read the uploaded form: " + std::string(std::strerror(errno)));
  GRef<GMimeStream> body(g_mime_stream_fs_new_with_bounds(own, 0, static_cast<gint64>(size)));
  return parse_stream(content_type, body.get(), file, limits);
}

FormData parse_form_data(std::string_view content_type, std::string_view body, const AttachmentFile& file,
                         const FormLimits& limits) {
  init_gmime();
  GRef<GMimeStream> stream(g_mime_stream_mem_new_with_buffer(body.data(), body.size()));
  return parse_stream(content_type, stream.get(), file, limits);
}

}  // namespace juniper::mail::mime
