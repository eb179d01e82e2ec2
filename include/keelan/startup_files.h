#pragma once
// What the daemon checks and creates on disk before anything else: its
// directories (never through a symlink, and trusted as sshd's StrictModes
// would: owned by us or root, writable by nobody else, up to "/"), and the
// process hygiene of a fresh start.
#include <sys/types.h>

#include <string>

#include "keelan/config.h"
#include "keelan/logger.h"

namespace keelan {

// Creates what is missing of the daemon's directories, checks all of them,
// and opens the daemon log. `socketGid`: the --socket-group's id, or -1.
std::string prepareDaemonFiles(const DaemonConfig& config, Logger& log, gid_t& socketGid);

// Whatever the daemon inherited (from a shell, a test runner, systemd) must
// not leak into every ship it spawns.
void markInheritedFdsCloseOnExec();

// systemd's readiness protocol: one datagram to $NOTIFY_SOCKET.
void notifySystemd(const std::string& message);

// The line `daemon start` waits for on the ready pipe ("ok PID" or
// "error MESSAGE"); nothing if there is no pipe.
void writeReady(int fd, const std::string& line);

}  // namespace keelan
