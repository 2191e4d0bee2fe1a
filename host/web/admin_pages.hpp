// The administrator's pages, generated from the registry: Apps, General Settings, lists and
// forms of every record type (fields, status badges, action buttons), System Parameters and
// Compose. Modules ship no HTML: what they declare is what is shown.
#pragma once

#include "http/router.hpp"

namespace juniper::web {

class WebApp;

void add_admin_pages(http::Router& router, WebApp& app);

}  // namespace juniper::web
