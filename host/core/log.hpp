// One process-wide log: lines go to the log file in the data folder (and to stderr when asked).
// Callers never pass secrets; values that could be secret are logged as "set"/"unset".
//
// A log must not become the outage: a line is one line (control characters escaped), at most
// kMaxMessageBytes of message; the same line repeated in a storm is written kRepeatsShown times
// per kRepeatInterval and then counted ("repeated N more times"); a log file that cannot be
// written (full disk, I/O error) sends the lines to stderr with a notice, never drops them.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <string_view>

namespace juniper::log {

enum class Level { debug, info, warning, error };

inline constexpr std::size_t kMaxMessageBytes = 2000;
inline constexpr unsigned kRepeatsShown = 5;
inline constexpr std::chrono::seconds kRepeatInterval{10};
inline constexpr std::chrono::seconds kNoticeInterval{60};  // "cannot write the log file" on stderr

// Creates the file with mode 0600 when missing. Pending repeat counts go to the previous file.
void open(const std::filesystem::path& file, bool also_stderr);
void write(Level level, std::string_view source, std::string_view message);
// Writes the pending "repeated N more times" lines now (also done at exit and by open()).
void flush();

// The clock of the repeat limit and the notice interval (tests); empty: the steady clock.
using Clock = std::function<std::chrono::steady_clock::time_point()>;
void set_clock(Clock clock);

inline void info(std::string_view source, std::string_view m) { write(Level::info, source, m); }
inline void warning(std::string_view source, std::string_view m) { write(Level::warning, source, m); }
inline void error(std::string_view source, std::string_view m) { write(Level::error, source, m); }

}  // namespace juniper::log
