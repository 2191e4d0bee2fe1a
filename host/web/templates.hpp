// The page templates of host/web/templates, built into the binary (cmake/embed_templates.cmake).
#pragma once

#include <optional>
#include <string_view>

namespace juniper::web {

// A template's text by file name without ".mustache" ("record", "juniper.css"); none if unknown.
std::optional<std::string_view> template_text(std::string_view name);

}  // namespace juniper::web
