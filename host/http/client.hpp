// Outgoing HTTP for the host and its modules (token endpoints, REST APIs): libcurl,
// certificates always verified; an extra CA file (JUNIPER_CA_FILE) is trusted in addition to the
// system's.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
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
  std::size_t max_response = 16u << 20;  // a longer answer is a transport failure, not memory
};

// Throws std::runtime_error("cannot reach <url>: <reason>") on a transport failure. The
// request's headers (credentials) never appear in the message.
ClientResponse request(const ClientRequest& rq, const std::string& extra_ca_file = {});

ClientResponse post_form(const std::string& url, const std::vector<std::pair<std::string, std::string>>& form,
                         std::chrono::seconds timeout, const std::string& extra_ca_file = {});

}  // namespace juniper::http
