#pragma once
// What keelan trusts on disk. The daemon usually runs as root, so a file or
// directory that someone else can write, or a symlink someone planted, must
// never steer where it reads, writes or what it runs.
//
// Every open here walks the path from "/" one component at a time with
// O_NOFOLLOW, so a symlink in any component is refused (ELOOP), and a file
// is opened O_NONBLOCK and checked with fstat, so a FIFO, a device or a
// socket where a regular file belongs is refused (ENXIO) without blocking.
#include <sys/types.h>

#include <string>

namespace keelan {

// A directory opened without following any symlink: the fd
// (O_DIRECTORY|O_CLOEXEC) or -errno. A relative path starts at the cwd.
int openDirectoryNoFollow(const std::string& path);
// A regular file, opened with `flags` (O_CREAT etc.;
// O_NOFOLLOW, O_CLOEXEC and O_NOCTTY are added) under a directory opened as
// above. The fd (blocking again) or -errno: ELOOP for a symlink anywhere,
// ENXIO for something that is not a regular file.
int openFileNoFollow(const std::string& path, int flags, mode_t mode = 0);
// The same relative to a directory fd already verified; `name` has no '/'.
int openFileAt(int directoryFd, const std::string& name, int flags, mode_t mode = 0);
// "it is a symlink or has one in its path", "not a regular file", or strerror.
std::string openErrorText(int negativeErrno);

// sshd's StrictModes: `path` (absolute) and each of its parents up to "/"
// must be a real directory owned by root or `uid` and not writable by group
// or others. A sticky world-writable parent (such as /tmp) passes only when
// the directory below it belongs to `uid`. Returns "" when trusted, else a
// message naming the directory, its owner and its mode.
std::string checkTrustedPath(const std::string& path, uid_t uid);

// The CLI's check of a file it is about to hand to the daemon (a ship file):
// the file and its directories must be trusted as above.
std::string checkTrustedFile(const std::string& path, uid_t uid);

// Makes room for binding a Unix socket at `path`, removing only what is
// surely a dead socket: nothing there is fine; a socket nobody answers on
// is unlinked; anything else (a file, a live socket of another daemon) is
// refused and kept. Returns "" or why not.
std::string clearStaleSocket(const std::string& path);

// Identity of what is at `path` (lstat), to unlink later only if unchanged.
struct PathIdentity {
  dev_t device = 0;
  ino_t inode = 0;
  bool valid = false;
};
PathIdentity identityOf(const std::string& path);
// Unlinks `path` only if it is still the socket recorded in `identity`.
void unlinkIfSame(const std::string& path, const PathIdentity& identity);

}  // namespace keelan
