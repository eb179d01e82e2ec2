#pragma once
// Looks at a path inside a ship's root the way the kernel will once the ship
// is chrooted there: an absolute symlink such as `bin -> /usr/bin` resolves
// inside the root, and ".." never climbs out of it. Without this, a check
// made from outside would follow the symlink to the host's /usr/bin, pass,
// and the ship would then fail with 127 inside its root.
#include <sys/stat.h>

#include <string>

namespace keelan {

// stat() of `path` (absolute, as the ship sees it) inside `root`; an empty
// root means no chroot. False when it does not resolve.
bool statInRoot(const std::string& root, const std::string& path, struct stat& info);
// A regular file with an execute bit, inside the root.
bool isExecutableInRoot(const std::string& root, const std::string& path);
bool isDirectoryInRoot(const std::string& root, const std::string& path);

}  // namespace keelan
