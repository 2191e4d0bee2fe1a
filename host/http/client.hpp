// Outgoing HTTP for the host and its modules (token endpoints, REST APIs): libcurl,
// certificates always verified; an extra CA file (JUNIPER_CA_FILE) is trusted in addition to the
// system's.
#pragma once

#include "core/errors.hpp"

#include <chrono>
#include <cstddef>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace juniper::http {

struct ClientResponse {
  long status = 0;
  std::map<std::string, std::string> headers;  // names in lower case; the last of a repeated one
  std::string body;
};

struct ClientRequest {
  std::string method = "GET";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::chrono::seconds timeout{30};
  std::size_t max_response = 16u << 20;  // a longer answer is refused (ResponseTooLarge), not held
};

// An answer longer than max_response: asking again cannot help.
struct ResponseTooLarge : UserError {
  using UserError::UserError;
};

// The host's error model: TemporaryError("cannot reach <url>: <reason>") when the peer could
// not be reached or did not answer in time (asking later may work); UserError when asking again
// cannot help (a URL that is not http(s) or is malformed, a header with CR/LF, an unreadable CA
// file, ResponseTooLarge past max_response). The request's headers (credentials) never appear in
// the message.
ClientResponse request(const ClientRequest& rq, const std::string& extra_ca_file = {});

ClientResponse post_form(const std::string& url, const std::vector<std::pair<std::string, std::string>>& form,
                         std::chrono::seconds timeout, const std::string& extra_ca_file = {});

}  // namespace juniper::http
