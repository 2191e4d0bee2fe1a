// Pages from templates: mustache (kainjow), every {{value}} HTML-escaped by the engine.
//
// A page's code builds a JSON view model (no markup); the template decides the markup. In the
// model, null and "" are false for sections ({{#x}}), numbers are shown as text. A template
// includes another with {{> name}}.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace juniper::web {

// Throws std::logic_error for an unknown or broken template (a defect, found by the tests).
std::string render(std::string_view template_name, const nlohmann::json& model);

}  // namespace juniper::web
