#pragma once
// Where on-exit hooks write: BASE/logs/hooks.log, appended, so that a hook
// that prints succeeds and its output can be read later.
#include <string>

namespace keelan {

// Opens `path` for appending (created 0640), never through a symlink and
// never blocking on a FIFO: anything but a regular file is refused. Returns
// the fd (close-on-exec), or -1 with `error` set.
int openHookOutput(const std::string& path, std::string& error);

}  // namespace keelan
