// Outgoing HTTP for the host and its modules (token endpoints): libcurl, certificates always
// verified; an extra CA file (JUNIPER_CA_FILE) is trusted in addition to the system's.
#pragma once

#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace juniper::http {

struct ClientResponse {
  long status = 0;
  std::string body;
};

// Throws std::runtime_error("cannot reach <url>: <reason>") on a transport failure.
ClientResponse post_form(const std::string& url, const std::vector<std::pair<std::string, std::string>>& form,
                         std::chrono::seconds timeout, const std::string& extra_ca_file = {});

}  // namespace juniper::http
