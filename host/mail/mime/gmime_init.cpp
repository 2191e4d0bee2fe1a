#include "mail/mime/gmime_init.hpp"

#include <gmime/gmime.h>

#include <mutex>

namespace juniper::mail::mime {

void init_gmime() {
  static std::once_flag once;
  std::call_once(once, [] {
    g_mime_init();
    // GMime 3.2 registers most of its types on first use, each with an unguarded
    // `static GType type; if (!type) type = g_type_register_static(...)`: two threads using a
    // stream type for the first time at once (two Compose uploads, a fetch beside a send) both
    // register it, GLib refuses the second, and that thread's object is NULL (a crash). So every
    // type the host may touch is registered here, once, before any thread uses it.
    for (GType (*type)() : {g_mime_content_disposition_get_type,
                            g_mime_content_type_get_type,
                            g_mime_data_wrapper_get_type,
                            g_mime_filter_basic_get_type,
                            g_mime_filter_best_get_type,
                            g_mime_filter_charset_get_type,
                            g_mime_filter_checksum_get_type,
                            g_mime_filter_enriched_get_type,
                            g_mime_filter_from_get_type,
                            g_mime_filter_get_type,
                            g_mime_filter_gzip_get_type,
                            g_mime_filter_html_get_type,
                            g_mime_filter_smtp_data_get_type,
                            g_mime_filter_strip_get_type,
                            g_mime_filter_windows_get_type,
                            g_mime_filter_yenc_get_type,
                            g_mime_format_options_get_type,
                            g_mime_header_get_type,
                            g_mime_header_list_get_type,
                            g_mime_message_get_type,
                            g_mime_message_part_get_type,
                            g_mime_message_partial_get_type,
                            g_mime_multipart_get_type,
                            g_mime_object_get_type,
                            g_mime_param_get_type,
                            g_mime_param_list_get_type,
                            g_mime_parser_get_type,
                            g_mime_parser_options_get_type,
                            g_mime_part_get_type,
                            g_mime_part_iter_get_type,
                            g_mime_references_get_type,
                            g_mime_stream_buffer_get_type,
                            g_mime_stream_cat_get_type,
                            g_mime_stream_file_get_type,
                            g_mime_stream_filter_get_type,
                            g_mime_stream_fs_get_type,
                            g_mime_stream_get_type,
                            g_mime_stream_mem_get_type,
                            g_mime_stream_mmap_get_type,
                            g_mime_stream_null_get_type,
                            g_mime_stream_pipe_get_type,
                            g_mime_text_part_get_type,
                            internet_address_get_type,
                            internet_address_group_get_type,
                            internet_address_list_get_type,
                            internet_address_mailbox_get_type}) {
      (void)type();
    }
  });
}

}  // namespace juniper::mail::mime
