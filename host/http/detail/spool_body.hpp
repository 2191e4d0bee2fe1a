// Internal: a Beast body type that writes a request body into a Spooled file as it arrives
// (uploads, Router::set_upload). Not part of the public API.
#pragma once

#include "core/spooled.hpp"
#include "http/detail/asio.hpp"

#include <boost/optional.hpp>

#include <cstdint>
#include <system_error>

namespace juniper::http::detail {

struct SpoolBody {
  using value_type = Spooled;

  static std::uint64_t size(const value_type& body) { return body.size(); }

  class reader {
   public:
    template <bool isRequest, class Fields>
    reader(bhttp::header<isRequest, Fields>&, value_type& body) : body_(body) {}

    void init(const boost::optional<std::uint64_t>&, beast::error_code& ec) { ec = {}; }

    // A write error (the disk is full) becomes the read's error: the connection answers it.
    template <class ConstBufferSequence>
    std::size_t put(const ConstBufferSequence& buffers, beast::error_code& ec) {
      std::size_t n = 0;
      try {
        for (const auto b : beast::buffers_range_ref(buffers)) {
          body_.append({static_cast<const char*>(b.data()), b.size()});
          n += b.size();
        }
      } catch (const std::system_error& e) {
        ec = beast::error_code(e.code().value(), beast::generic_category());
        return n;
      }
      ec = {};
      return n;
    }

    void finish(beast::error_code& ec) { ec = {}; }

   private:
    value_type& body_;
  };
};

}  // namespace juniper::http::detail
