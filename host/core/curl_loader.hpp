#pragma once

// libcurl is loaded on first use (core/curl_loader.cpp): the process maps it, and the libraries it
// brings, only once it calls a curl_ function.
namespace juniper::curl {

// Whether libcurl is mapped into this process yet.
bool loaded();

}  // namespace juniper::curl
