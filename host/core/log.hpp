// One process-wide log: lines go to the log file in the data folder (and to stderr when asked).
// Callers never pass secrets; values that could be secret are logged as "set"/"unset".
#pragma once

#include <filesystem>
#include <string_view>

namespace juniper::log {

enum class Level { debug, info, warning, error };

void open(const std::filesystem::path& file, bool also_stderr);
void write(Level level, std::string_view source, std::string_view message);

inline void info(std::string_view source, std::string_view m) { write(Level::info, source, m); }
inline void warning(std::string_view source, std::string_view m) { write(Level::warning, source, m); }
inline void error(std::string_view source, std::string_view m) { write(Level::error, source, m); }

}  // namespace juniper::log
