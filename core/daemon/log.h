// Log lines of jwtgated: one line per event on stderr. Under systemd (JOURNAL_STREAM set) each
// line starts with its sd-daemon priority ("<3>", "<4>", "<6>") so that journald keeps the
// level. Tokens, signatures and secrets are never logged.
#ifndef JWTGATE_DAEMON_LOG_H_
#define JWTGATE_DAEMON_LOG_H_

#include <fmt/core.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>

namespace jwtgate::daemon {

enum class LogLevel { kError = 3, kWarning = 4, kInfo = 6 };

template <typename... Args>
void Log(LogLevel level, fmt::format_string<Args...> format, Args&&... args) {
  static const bool journal = std::getenv("JOURNAL_STREAM") != nullptr;
  std::string line;
  if (journal) line = fmt::format("<{}>", static_cast<int>(level));
  line += "jwtgated: ";
  if (!journal) {
    line += level == LogLevel::kError ? "error: " : level == LogLevel::kWarning ? "warning: " : "";
  }
  line += fmt::format(format, std::forward<Args>(args)...);
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace jwtgate::daemon

#endif  // JWTGATE_DAEMON_LOG_H_
