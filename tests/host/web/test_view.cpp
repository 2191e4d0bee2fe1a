// The page templates: the engine escapes every value; the view model's rules (empty is false).
#include "web/templates.hpp"
#include "web/view.hpp"

#include <catch2/catch.hpp>

#include <stdexcept>

using juniper::web::render;
using json = nlohmann::json;

namespace {
bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }
}  // namespace

TEST_CASE("templates escape every value: markup, quotes and ampersands", "[view]") {
  const std::string hostile = R"(<script>alert("x")</script> & 'y')";
  const std::string page = render("message", {{"title", hostile},
                                              {"paragraphs", {hostile}},
                                              {"tone", ""},
                                              {"links", {{{"href", "/a?b=1&c=\"2\""}, {"label", hostile}}}}});
  CHECK_FALSE(has(page, "<script>alert"));
  CHECK(has(page, "<title>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &apos;y&apos; - Juniper</title>"));
  CHECK(has(page, "<p>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &apos;y&apos;</p>"));
  CHECK(has(page, "<a href=\"/a?b=1&amp;c=&quot;2&quot;\">"));
}

TEST_CASE("view models: null, false and \"\" hide a section; numbers show as text", "[view]") {
  const auto with = [](json tone) {
    return render("message", {{"title", 7}, {"paragraphs", json::array()}, {"tone", tone}, {"links", json::array()}});
  };
  CHECK(has(with("error"), "<div class=\"alert\" role=\"alert\">"));
  CHECK_FALSE(has(with(""), "class=\"alert\""));
  CHECK_FALSE(has(with(nullptr), "class=\"alert\""));
  CHECK_FALSE(has(with(false), "class=\"alert\""));
  CHECK(has(with(""), "<h1>7</h1>"));
}

TEST_CASE("an unknown template is a defect, said at once", "[view]") {
  CHECK_THROWS_AS(render("no_such_page", json::object()), std::logic_error);
  CHECK_FALSE(juniper::web::template_text("no_such_page"));
  CHECK(juniper::web::template_text("juniper.css"));
}
