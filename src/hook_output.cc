#include "keelan/hook_output.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace keelan {

int openHookOutput(const std::string& path, std::string& error) {
  // O_NONBLOCK: a FIFO planted there must not stall the loop in open().
  int fd = open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0640);
  if (fd < 0) {
    error = "cannot open " + path + ": " + strerror(errno);
    return -1;
  }
  struct stat info {};
  if (fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    error = "refusing " + path + ": not a regular file";
    close(fd);
    return -1;
  }
  // The hook inherits the file status flags: give it ordinary blocking writes.
  fcntl(fd, F_SETFL, O_APPEND);
  return fd;
}

}  // namespace keelan
