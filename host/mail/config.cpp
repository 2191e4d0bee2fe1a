#include "mail/config.hpp"

#include "mail/records.hpp"
#include "mail/smtp/session.hpp"
#include "records/params.hpp"
#include "records/record_service.hpp"

#include "core/errors.hpp"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <functional>

namespace juniper::mail {
namespace {
// juniper.conf's smtp_port: 1 to 65535, or a message saying which line to fix.
int port_number(const std::string& text) {
  int port = 0;
  try {
    std::size_t used = 0;
    port = std::stoi(text, &used);
    if (used != text.size()) port = 0;
  } catch (const std::exception&) {
    port = 0;
  }
  if (port < 1 || port > 65535)
    throw UserError("juniper.conf: smtp_port must be a port number (1 to 65535), not \"" + text + "\"");
  return port;
}
std::string get(const std::map<std::string, std::string>& m, const std::string& k) {
  const auto it = m.find(k);
  return it == m.end() ? std::string() : it->second;
}
}  // namespace

MailConfig load_mail_config(records::Env& env, const std::map<std::string, std::string>& conf) {
  MailConfig c;
  const auto custom = records::param_get(env, "mail.external_email_server_default");
  c.custom_servers = custom && (*custom == "1" || *custom == "true");
  if (c.custom_servers) {
    soci::rowset<soci::row> rs = (env.sql().prepare << "SELECT CAST(id AS TEXT), name, from_filter, CAST(sequence AS TEXT) "
                                                       "FROM ir_mail_server WHERE active = 1 ORDER BY sequence, id");
    for (const auto& r : rs) {
      OutgoingServer s;
      s.id = std::stoll(r.get<std::string>(0));
      s.name = r.get_indicator(1) == soci::i_null ? "" : r.get<std::string>(1);
      s.from_filter = r.get_indicator(2) == soci::i_null ? "" : r.get<std::string>(2);
      s.sequence = r.get_indicator(3) == soci::i_null ? 10 : std::stoi(r.get<std::string>(3));
      c.servers.push_back(std::move(s));
    }
  }
  const auto param = [&](const char* k) { return records::param_get(env, k).value_or(""); };
  c.defaults.notification_address = notification_address(param("mail.default.from"), param("mail.catchall.domain"));
  if (c.defaults.notification_address.empty()) c.defaults.notification_address = get(conf, "email_from");
  c.defaults.bounce_address = bounce_address(param("mail.bounce.alias"), param("mail.catchall.domain"));
  c.defaults.default_from_filter = param("mail.default.from_filter");
  if (c.defaults.default_from_filter.empty()) c.defaults.default_from_filter = get(conf, "from_filter");
  c.smtp.host = get(conf, "smtp_server");
  if (const auto p = get(conf, "smtp_port"); !p.empty()) c.smtp.port = port_number(p);
  if (const auto e = get(conf, "smtp_encryption"); !e.empty()) {
    try {
      (void)smtp::parse_security(e);  // a typo must not mean plaintext
    } catch (const UserError& x) {
      throw UserError(std::string("juniper.conf: smtp_encryption: ") + x.what());
    }
    c.smtp.encryption = e;
  }
  c.smtp.user = get(conf, "smtp_user");
  c.smtp.password = get(conf, "smtp_password");
  if (const auto m = get(conf, "smtp_max_recipients"); !m.empty()) {
    try {
      c.smtp.max_recipients = std::stoul(m);
    } catch (const std::exception&) {
      throw UserError("juniper.conf: smtp_max_recipients must be a number, not \"" + m + "\"");
    }
  }
  // mail.queue.lease: how long a claimed mail stays with its sender before another may take it
  // (a killed sender's mails go out again after this; tests shorten it).
  if (const auto l = param("mail.queue.lease"); !l.empty()) {
    try {
      c.lease = std::chrono::seconds(std::clamp(std::stoi(l), 1, 3600));
    } catch (const std::exception&) {
      throw UserError("the system parameter mail.queue.lease must be a number of seconds, not \"" + l + "\"");
    }
  }
  if (const auto a = param("mail.queue.max_age"); !a.empty()) {
    const auto d = parse_duration(a);
    if (!d || d->count() <= 0) {
      throw UserError("the system parameter mail.queue.max_age must be a duration such as 5d, 12h or 3600, not \"" + a + "\"");
    }
    c.max_age = *d;
  }
  const char* ca = std::getenv("JUNIPER_CA_FILE");
  c.ca_file = ca != nullptr && *ca != '\0' ? ca : get(conf, "ca_file");
  return c;
}

std::optional<std::chrono::seconds> parse_duration(std::string_view text) {
  if (text.empty() || text.size() > 12) return std::nullopt;
  std::int64_t unit = 1;
  switch (text.back()) {
    case 's':
      unit = 1;
      break;
    case 'm':
      unit = 60;
      break;
    case 'h':
      unit = 3600;
      break;
    case 'd':
      unit = 86400;
      break;
    default:
      unit = 0;
  }
  const std::string_view digits = unit == 0 ? text : text.substr(0, text.size() - 1);
  if (digits.empty() || !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  return std::chrono::seconds(std::stoll(std::string(digits)) * (unit == 0 ? 1 : unit));
}

Router make_router(const MailConfig& config) { return Router(config.servers, config.defaults); }

nlohmann::json describe_route(const RouteDecision& d) {
  nlohmann::json j = {{"server_id", d.server_id ? nlohmann::json(*d.server_id) : nlohmann::json(nullptr)},
                      {"server", d.server_id ? nlohmann::json(d.server_name) : nlohmann::json(nullptr)},
                      {"from_filter", d.from_filter},
                      {"from", d.from_header},
                      {"envelope", d.envelope_from}};
  if (!d.warning.empty()) j["warning"] = d.warning;
  return j;
}

namespace {

// "must be a whole number from lo to hi <unit>" unless `text` is one.
std::function<std::string(std::string_view)> whole_number(long long lo, long long hi, const std::string& unit) {
  return [lo, hi, unit](std::string_view text) -> std::string {
    long long n = -1;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec == std::errc() && end == text.data() + text.size() && n >= lo && n <= hi) return {};
    return "must be a whole number from " + std::to_string(lo) + " to " + std::to_string(hi) + " " + unit;
  };
}

}  // namespace

void declare_params(records::Registry& registry) {
  registry.add_param({"mail.queue.interval", "base", whole_number(1, 86400, "(seconds between queue runs)")});
  registry.add_param({"mail.fetch.interval", "base", whole_number(1, 86400, "(seconds between fetches)")});
  registry.add_param({"mail.queue.lease", "base", whole_number(1, 3600, "(seconds a claimed mail stays with its sender)")});
  registry.add_param({"mail.fetch.batch", "base", whole_number(1, 100000, "(messages per fetch)")});
  registry.add_param({"mail.max_size", "base", whole_number(1, 1LL << 40, "(bytes a mail may have)")});
  registry.add_param({"mail.queue.max_age", "base", [](std::string_view text) -> std::string {
                        const auto d = parse_duration(text);
                        return d && d->count() > 0 ? "" : "must be a duration such as 5d, 12h or 3600";
                      }});
}

}  // namespace juniper::mail
