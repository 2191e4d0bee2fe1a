#include "web/view.hpp"

#include "web/templates.hpp"

#include <kainjow/mustache.hpp>

#include <map>
#include <stdexcept>

namespace juniper::web {
namespace {

namespace ms = kainjow::mustache;

ms::data to_data(const nlohmann::json& v) {
  switch (v.type()) {
    case nlohmann::json::value_t::object: {
      ms::data d{ms::data::type::object};
      for (const auto& [k, item] : v.items()) d.set(k, to_data(item));
      return d;
    }
    case nlohmann::json::value_t::array: {
      ms::data d{ms::data::type::list};
      for (const auto& item : v) d.push_back(to_data(item));
      return d;
    }
    case nlohmann::json::value_t::string: {
      const auto& s = v.get_ref<const std::string&>();
      return s.empty() ? ms::data{false} : ms::data{s};
    }
    case nlohmann::json::value_t::boolean:
      return ms::data{v.get<bool>()};
    case nlohmann::json::value_t::null:
    case nlohmann::json::value_t::discarded:
      return ms::data{false};
    default:
      return ms::data{v.dump()};  // numbers
  }
}

std::string_view text_of(std::string_view name) {
  const auto text = template_text(name);
  if (!text) throw std::logic_error("no page template named " + std::string(name));
  return *text;
}

// {{> name}} reads the built-in templates, never the page's data.
class Context : public ms::context<std::string> {
 public:
  explicit Context(const ms::data* data) : ms::context<std::string>(data) {}

  const ms::data* get_partial(const std::string& name) const override {
    const auto it = partials_.find(name);
    if (it != partials_.end()) return &it->second;
    return &partials_.emplace(name, ms::data{std::string(text_of(name))}).first->second;
  }

 private:
  mutable std::map<std::string, ms::data> partials_;
};

}  // namespace

std::string render(std::string_view template_name, const nlohmann::json& model) {
  ms::mustache tmpl{std::string(text_of(template_name))};
  if (!tmpl.is_valid()) throw std::logic_error("page template " + std::string(template_name) + ": " + tmpl.error_message());
  const ms::data data = to_data(model);
  Context ctx{&data};
  std::string out = tmpl.render(ctx);
  if (!tmpl.is_valid()) throw std::logic_error("page template " + std::string(template_name) + ": " + tmpl.error_message());
  return out;
}

}  // namespace juniper::web
