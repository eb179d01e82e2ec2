#include "harness.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "keelan/proc_info.h"
#include "keelan/ship_cgroups.h"
#include "keelan/time_util.h"

extern char** environ;

namespace keelan::test {

std::string numbered(std::string prefix, long long n) {
  prefix += std::to_string(n);
  return prefix;
}

std::string keelanBinary() {
  const char* path = getenv("KEELAN_BINARY");
  return path != nullptr ? path : KEELAN_BINARY_PATH;
}

bool processExists(pid_t pid) { return readProcStat(pid).has_value(); }

bool processAlive(pid_t pid) {
  auto stat = readProcStat(pid);
  return stat && stat->state != 'Z' && stat->state != 'X';
}

std::string rootOf(pid_t pid) {
  char buffer[4096];
  ssize_t n = readlink(("/proc/" + std::to_string(pid) + "/root").c_str(), buffer, sizeof buffer - 1);
  return n > 0 ? std::string(buffer, static_cast<size_t>(n)) : "";
}

std::string processName(pid_t pid) {
  std::string name = readFile("/proc/" + std::to_string(pid) + "/comm");
  if (!name.empty() && name.back() == '\n') name.pop_back();
  return name;
}

std::vector<pid_t> listPids() {
  std::vector<pid_t> pids;
  DIR* dir = opendir("/proc");
  if (dir == nullptr) return pids;
  while (dirent* entry = readdir(dir)) {
    char* end = nullptr;
    long pid = strtol(entry->d_name, &end, 10);
    if (*end == '\0' && pid > 0) pids.push_back(static_cast<pid_t>(pid));
  }
  closedir(dir);
  return pids;
}

namespace {

std::vector<pid_t> childrenOf(pid_t parent) {
  std::vector<pid_t> children;
  for (pid_t pid : listPids()) {
    auto stat = readProcStat(pid);
    if (stat && stat->ppid == parent) children.push_back(pid);
  }
  return children;
}

void reapAll() {
  while (waitpid(-1, nullptr, WNOHANG) > 0) {
  }
}
}  // namespace

std::vector<pid_t> zombieChildrenOf(pid_t parent) {
  std::vector<pid_t> zombies;
  for (pid_t pid : childrenOf(parent)) {
    auto stat = readProcStat(pid);
    if (stat && stat->state == 'Z') zombies.push_back(pid);
  }
  return zombies;
}

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

bool waitForExit(pid_t pid, int timeoutMs) {
  // glibc 2.36's <sys/pidfd.h> has no extern "C" guard: call the syscall.
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) return errno == ESRCH;  // already reaped
  int64_t deadline = monotonicMs() + timeoutMs;
  int ready = 0;
  for (;;) {
    pollfd pfd{pidfd, POLLIN, 0};
    ready = poll(&pfd, 1, static_cast<int>(std::max<int64_t>(0, deadline - monotonicMs())));
    if (ready >= 0 || errno != EINTR) break;
  }
  close(pidfd);
  return ready == 1;
}

int waitChild(pid_t pid, int timeoutMs) {
  int64_t deadline = monotonicMs() + timeoutMs;
  if (!waitForExit(pid, timeoutMs)) return -1;
  for (;;) {
    int status = 0;
    pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    // Readable pidfd, but the status not yet waitable: only a moment apart.
    if (done < 0 || monotonicMs() > deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

// ------------------------------------------------------------ LineReader

LineReader::~LineReader() {
  if (fd_ >= 0) close(fd_);
}

LineReader::LineReader(LineReader&& other) noexcept : fd_(other.fd_), buffer_(std::move(other.buffer_)) {
  other.fd_ = -1;
}

LineReader& LineReader::operator=(LineReader&& other) noexcept {
  std::swap(fd_, other.fd_);
  std::swap(buffer_, other.buffer_);
  return *this;
}

bool LineReader::readLine(std::string& line, int timeoutMs) {
  int64_t deadline = monotonicMs() + timeoutMs;
  for (;;) {
    size_t newline = buffer_.find('\n');
    if (newline != std::string::npos) {
      line = buffer_.substr(0, newline);
      buffer_.erase(0, newline + 1);
      return true;
    }
    int wait = static_cast<int>(deadline - monotonicMs());
    if (fd_ < 0 || wait <= 0) return false;
    pollfd pfd{fd_, POLLIN, 0};
    if (poll(&pfd, 1, wait) <= 0) return false;
    char chunk[4096];
    ssize_t n = read(fd_, chunk, sizeof chunk);
    if (n <= 0) return false;
    buffer_.append(chunk, static_cast<size_t>(n));
  }
}

// ------------------------------------------------------------ EventStream

JsonMatch eventIs(const std::string& kind, const std::string& ship) {
  return [kind, ship](const nlohmann::json& line) {
    return line.value("event", "") == kind && line.value("ship", "") == ship;
  };
}

std::optional<nlohmann::json> EventStream::waitFor(const JsonMatch& match, int timeoutMs) {
  int64_t deadline = monotonicMs() + timeoutMs;
  std::string line;
  while (in_.readLine(line, static_cast<int>(std::max<int64_t>(0, deadline - monotonicMs())))) {
    auto parsed = nlohmann::json::parse(line, nullptr, false);
    if (!parsed.is_discarded() && parsed.is_object() && match(parsed)) return parsed;
  }
  return std::nullopt;
}

bool EventStream::waitForEach(const std::string& kind, std::set<std::string> ships, int timeoutMs) {
  int64_t deadline = monotonicMs() + timeoutMs;
  while (!ships.empty()) {
    auto event = waitFor(
        [&](const nlohmann::json& line) { return line.value("event", "") == kind && ships.count(line.value("ship", "")); },
        static_cast<int>(std::max<int64_t>(0, deadline - monotonicMs())));
    if (!event) return false;
    ships.erase(event->value("ship", ""));
  }
  return true;
}

bool EventStream::send(const nlohmann::json& request) { return sendAll(in_.fd(), request.dump() + "\n"); }

bool sendAll(int fd, const std::string& bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::send(fd, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

// ------------------------------------------------------------ Background

Background::~Background() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitChild(pid_, 5000);
  }
}

Background::Background(Background&& other) noexcept : pid_(other.pid_), out_(std::move(other.out_)) {
  other.pid_ = -1;
}

Background& Background::operator=(Background&& other) noexcept {
  std::swap(pid_, other.pid_);
  std::swap(out_, other.out_);
  return *this;
}

int Background::wait(int timeoutMs) {
  int code = waitChild(pid_, timeoutMs);
  if (code >= 0) pid_ = -1;
  return code;
}

void Background::signal(int sig) {
  if (pid_ > 0) kill(pid_, sig);
}

// ------------------------------------------------------------ KeelanTest

void KeelanTest::SetUp() {
  ASSERT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  char pattern[] = "/tmp/keelan-test-XXXXXX";
  ASSERT_NE(mkdtemp(pattern), nullptr);
  base_ = pattern;
}

void KeelanTest::TearDown() {
  // Kill everything we started, by PID: the daemons and ships that are our
  // children now (we are their subreaper), and their process groups.
  pid_t self = getpid();
  int64_t deadline = monotonicMs() + 10000;
  for (;;) {
    reapAll();
    auto children = childrenOf(self);
    if (children.empty() || monotonicMs() > deadline) break;
    for (pid_t child : children) {
      if (getpgid(child) == child && child != getpgrp()) kill(-child, SIGKILL);
      kill(child, SIGKILL);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_TRUE(childrenOf(self).empty()) << "processes left behind";
  removeCgroupSubtree();
  nftw(base_.c_str(), [](const char* path, const struct stat*, int, FTW*) { return remove(path); }, 16,
       FTW_DEPTH | FTW_PHYS);
}

namespace {
std::vector<std::string> listDir(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return out;
  while (dirent* entry = readdir(d))
    if (entry->d_type == DT_DIR && entry->d_name[0] != '.') out.emplace_back(entry->d_name);
  closedir(d);
  return out;
}
}  // namespace

// The daemon's cgroup subtree (ship_cgroups.h) outlives a SIGKILLed daemon:
// removed here, and a cgroup that still holds a process fails the test.
void KeelanTest::removeCgroupSubtree() {
  auto hierarchy = discoverCgroupHierarchy();
  if (!hierarchy) return;
  std::string subtree = hierarchy->selfDir() + "/keelan-" + baseDirTag(base_);
  if (access(subtree.c_str(), F_OK) != 0) return;
  std::string ships = subtree + "/ships";
  for (const auto& ship : listDir(ships))
    for (const auto& run : listDir(ships + "/" + ship)) {
      std::string dir = ships + "/" + ship + "/" + run;
      EXPECT_TRUE(eventually([&] { return !ShipCgroups::populated(dir); }, 5000)) << "processes left in " << dir;
      ShipCgroups::kill(dir);
      eventually([&] { return !ShipCgroups::populated(dir); }, 5000);
      rmdir(dir.c_str());
    }
  for (const auto& ship : listDir(ships)) rmdir((ships + "/" + ship).c_str());
  rmdir(ships.c_str());
  EXPECT_EQ(rmdir(subtree.c_str()), 0) << "cannot remove the cgroup subtree " << subtree;
}

namespace {
std::vector<char*> buildEnv(std::vector<std::string>& storage, const std::map<std::string, std::string>& extra) {
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry = *e;
    std::string key = entry.substr(0, entry.find('='));
    if (key == "BASE_DIRECTORY" || extra.count(key)) continue;
    storage.push_back(entry);
  }
  for (const auto& [key, value] : extra) storage.push_back(key + "=" + value);
  std::vector<char*> envp;
  for (auto& s : storage) envp.push_back(s.data());
  envp.push_back(nullptr);
  return envp;
}

pid_t spawnKeelan(const std::vector<std::string>& args, const std::map<std::string, std::string>& env, int outFd,
                  int errFd) {
  std::vector<std::string> argStrings = {keelanBinary()};
  argStrings.insert(argStrings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argStrings) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> envStorage;
  std::vector<char*> envp = buildEnv(envStorage, env);
  pid_t pid = fork();
  if (pid == 0) {
    int devNull = open("/dev/null", O_RDONLY);
    dup2(devNull, 0);
    dup2(outFd, 1);
    dup2(errFd, 2);
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  return pid;
}
}  // namespace

Result KeelanTest::keelan(const std::vector<std::string>& args, int timeoutMs,
                          const std::map<std::string, std::string>& env) {
  auto fullEnv = env;
  if (!fullEnv.count("BASE_DIRECTORY")) fullEnv["BASE_DIRECTORY"] = base_;
  // Output goes to files, not pipes: a daemon started by the command keeps
  // no pipe open that would make us wait for it.
  std::string outPath = base_ + "/.out", errPath = base_ + "/.err";
  int outFd = open(outPath.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  int errFd = open(errPath.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  pid_t pid = spawnKeelan(args, fullEnv, outFd, errFd);
  close(outFd);
  close(errFd);
  Result result;
  result.code = waitChild(pid, timeoutMs);
  if (result.code < 0) {
    kill(pid, SIGKILL);
    waitChild(pid, 5000);
    std::string joined;
    for (const auto& a : args) joined += a + " ";
    ADD_FAILURE() << "keelan " << joined << "did not finish within " << timeoutMs << " ms";
  }
  result.out = readFile(outPath);
  result.err = readFile(errPath);
  return result;
}

Background KeelanTest::keelanBackground(const std::vector<std::string>& args,
                                        const std::map<std::string, std::string>& env) {
  auto fullEnv = env;
  if (!fullEnv.count("BASE_DIRECTORY")) fullEnv["BASE_DIRECTORY"] = base_;
  int pipeFds[2];
  EXPECT_EQ(pipe2(pipeFds, O_CLOEXEC), 0);
  int errFd = open((base_ + "/.bg-err").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  pid_t pid = spawnKeelan(args, fullEnv, pipeFds[1], errFd);
  close(pipeFds[1]);
  close(errFd);
  return Background(pid, pipeFds[0]);
}

nlohmann::json KeelanTest::json(const std::vector<std::string>& args) {
  Result r = keelan(args);
  EXPECT_EQ(r.code, 0) << r.err;
  auto parsed = nlohmann::json::parse(r.out, nullptr, false);
  EXPECT_FALSE(parsed.is_discarded()) << r.out;
  return parsed;
}

void KeelanTest::startDaemon(const std::vector<std::string>& extra) {
  std::vector<std::string> args = {"daemon", "start"};
  args.insert(args.end(), extra.begin(), extra.end());
  Result r = keelan(args);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
}

void KeelanTest::restartDaemon(const std::vector<std::string>& extra) {
  pid_t daemon = daemonPid();
  ASSERT_EQ(keelan({"daemon", "stop"}).code, 0);
  ASSERT_EQ(waitChild(daemon, 5000), 0);
  startDaemon(extra);
}

pid_t KeelanTest::daemonPid() {
  return static_cast<pid_t>(atoi(readFile(base_ + "/run/monitor-daemon.pid").c_str()));
}

std::string KeelanTest::makeRoot() {
  if (!root_.empty()) return root_;
  std::string root = base_ + "/root";
  for (const char* dir : {"", "/bin", "/tmp", "/etc", "/work", "/dev"}) mkdir((root + dir).c_str(), 0755);
  // Shells redirect background jobs from /dev/null.
  mknod((root + "/dev/null").c_str(), S_IFCHR | 0666, makedev(1, 3));
  chmod((root + "/tmp").c_str(), 01777);
  std::string busybox = root + "/bin/busybox";
  if (link("/bin/busybox", busybox.c_str()) != 0) {
    std::ifstream in("/bin/busybox", std::ios::binary);
    std::ofstream out(busybox, std::ios::binary);
    out << in.rdbuf();
    out.close();
    chmod(busybox.c_str(), 0755);
  }
  for (const char* applet : {"sh", "sleep", "echo", "cat", "env", "kill", "true", "false", "ls", "pwd", "id", "touch"})
    symlink("busybox", (root + "/bin/" + applet).c_str());
  root_ = root;
  return root_;
}

nlohmann::json KeelanTest::inspect(const std::string& name) { return json({"inspect", name, "--json"}); }

Result KeelanTest::deploySh(const std::string& name, const std::string& script, const std::vector<std::string>& extra) {
  std::vector<std::string> args = {"deploy", name, "--root", makeRoot()};
  args.insert(args.end(), extra.begin(), extra.end());
  for (const char* part : {"--", "/bin/sh", "-c"}) args.push_back(part);
  args.push_back(script);
  return keelan(args);
}

Result KeelanTest::deployShMany(const std::string& prefix, int n, const std::function<std::string(int)>& scriptOf) {
  std::string root = makeRoot();
  std::string fleet;
  // JSON strings are TOML basic strings: the escapes nlohmann writes are TOML's too.
  for (int i = 0; i < n; ++i)
    fleet += "[ship." + prefix + std::to_string(i) + "]\nroot = " + nlohmann::json(root).dump() +
             "\ncommand = " + nlohmann::json({"/bin/sh", "-c", scriptOf(i)}).dump() + "\n";
  std::string file = base_ + "/" + prefix + "-fleet.toml";
  std::ofstream(file) << fleet;
  return keelan({"apply", file});
}

long KeelanTest::metricSample(const std::string& sample) {
  Result m = keelan({"metrics"});
  const std::string line = "\n" + sample + " ";
  size_t at = m.out.find(line);
  return at == std::string::npos ? -1L : atol(m.out.c_str() + at + line.size());
}

std::map<std::string, pid_t> KeelanTest::runningPids() {
  std::map<std::string, pid_t> pids;
  for (const auto& ship : json({"ps", "--json"}))
    if (ship["processId"].is_number_integer()) pids[ship["name"].get<std::string>()] = ship["processId"].get<pid_t>();
  return pids;
}

bool KeelanTest::eventually(const std::function<bool()>& condition, int timeoutMs) {
  int64_t deadline = monotonicMs() + timeoutMs;
  while (!condition()) {
    if (monotonicMs() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

int KeelanTest::connectDaemon() {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::string path = base_ + "/run/keelan.sock";
  strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

std::vector<std::string> KeelanTest::rawExchange(const std::string& bytes, size_t expectLines, int timeoutMs) {
  std::vector<std::string> lines;
  LineReader reader(connectDaemon());
  if (reader.fd() < 0) return lines;
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = send(reader.fd(), bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  int64_t deadline = monotonicMs() + timeoutMs;
  std::string line;
  while (lines.size() < expectLines &&
         reader.readLine(line, static_cast<int>(std::max<int64_t>(0, deadline - monotonicMs()))))
    lines.push_back(line);
  return lines;
}

EventStream KeelanTest::subscribe(int timeoutMs) {
  EventStream events(connectDaemon());
  if (!events.ok() || !events.send({{"op", "events"}, {"id", "subscribe"}})) return EventStream();
  // The reply is ordered after the subscription: from here on nothing is missed.
  auto reply = events.waitFor([](const nlohmann::json& line) { return line.contains("id") && line["id"] == "subscribe"; },
                              timeoutMs);
  if (!reply || !reply->value("subscribed", false)) return EventStream();
  return events;
}

}  // namespace keelan::test
