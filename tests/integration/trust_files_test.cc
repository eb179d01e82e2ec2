// What the daemon and the CLI trust on disk (issue 12): directories only
// when keelan's uid or root owns them and nobody else can write them, no
// symlink in any path component, no FIFO where a file belongs, a CLI that
// checks whom it talks to and whom it signals, a --socket that never removes
// a live daemon's socket, chroot checks that resolve as the kernel will, and
// NUL bytes refused in every field.
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "harness.h"
#include "keelan/time_util.h"

namespace keelan::test {
namespace {

constexpr const char* kUser = "kltfiles";

class TrustFiles : public KeelanTest {
 protected:
  void TearDown() override {
    for (pid_t pid : strangers_) {
      kill(pid, SIGKILL);
      waitChild(pid, 5000);
    }
    KeelanTest::TearDown();
    for (const auto& dir : extraDirs_) std::filesystem::remove_all(dir);
    if (userCreated_) {
      // Without a home directory userdel -r still removes the user (it only warns).
      int ignored = system("userdel -r kltfiles >/dev/null 2>&1");
      (void)ignored;
      EXPECT_EQ(getpwnam(kUser), nullptr) << "user kltfiles left behind";
    }
    if (userLock_ >= 0) close(userLock_);
  }

  // The second, unprivileged user; created once per test, removed in TearDown.
  uid_t user() {
    if (!userCreated_) {
      // ctest runs tests in parallel processes: one test owns the user at a
      // time. The lock is on this test binary itself, so no lock file is left.
      userLock_ = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
      EXPECT_GE(userLock_, 0);
      EXPECT_EQ(flock(userLock_, LOCK_EX), 0);
      if (getpwnam(kUser) != nullptr) {  // left over from a killed run
        int ignored = system("userdel -r kltfiles >/dev/null 2>&1");
        (void)ignored;
      }
      EXPECT_EQ(system("useradd --no-create-home --shell /usr/sbin/nologin kltfiles"), 0);
      userCreated_ = true;
    }
    passwd* entry = getpwnam(kUser);
    EXPECT_NE(entry, nullptr);
    return entry == nullptr ? 65534 : entry->pw_uid;
  }
  gid_t userGroup() {
    passwd* entry = getpwnam(kUser);
    return entry == nullptr ? 65534 : entry->pw_gid;
  }

  std::string tempDir() {
    char pattern[] = "/tmp/keelan-trust-XXXXXX";
    EXPECT_NE(mkdtemp(pattern), nullptr);
    extraDirs_.push_back(pattern);
    return pattern;
  }

  // A process that is not keelan (our child, killed in TearDown).
  pid_t startSleeper() {
    pid_t pid = fork();
    if (pid == 0) {
      execl("/bin/sleep", "sleep", "60", static_cast<char*>(nullptr));
      _exit(127);
    }
    strangers_.push_back(pid);
    return pid;
  }

  void writeFile(const std::string& path, const std::string& text) {
    std::ofstream out(path);
    out << text;
  }

  std::vector<pid_t> strangers_;
  std::vector<std::string> extraDirs_;
  bool userCreated_ = false;
  int userLock_ = -1;
};

// ------------------------------------------------ directories (StrictModes)

TEST_F(TrustFiles, GroupWritableBaseIsRefusedNamingPathOwnerAndMode) {
  ASSERT_EQ(chmod(base_.c_str(), 0775), 0);
  Result r = keelan({"daemon", "start"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("refusing " + base_ + ":"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("mode 0775"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("owner uid 0"), std::string::npos) << r.err;
  EXPECT_EQ(access((base_ + "/run/keelan.sock").c_str(), F_OK), -1) << "nothing was started";
}

TEST_F(TrustFiles, SubdirectoryOwnedByAnotherUserIsRefused) {
  uid_t uid = user();
  std::string data = base_ + "/data";
  ASSERT_EQ(mkdir(data.c_str(), 0700), 0);
  ASSERT_EQ(chown(data.c_str(), uid, userGroup()), 0);
  Result r = keelan({"daemon", "start"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("refusing " + data + ":"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("(kltfiles)"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("mode 0700"), std::string::npos) << r.err;
}

TEST_F(TrustFiles, EachDirectoryKeelanUsesIsChecked) {
  // Pre-existing and writable by others: never silently trusted.
  for (const char* sub : {"/run", "/logs", "/logs/ships", "/ships"}) {
    std::string dir = base_ + sub;
    SCOPED_TRACE(dir);
    Result clean = keelan({"daemon", "start"});
    ASSERT_EQ(clean.code, 0) << clean.err;
    ASSERT_EQ(keelan({"daemon", "stop"}).code, 0);
    mkdir(dir.c_str(), 0755);
    ASSERT_EQ(chmod(dir.c_str(), 0777), 0);
    Result r = keelan({"daemon", "start"});
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("refusing " + dir + ":"), std::string::npos) << r.err;
    ASSERT_EQ(chmod(dir.c_str(), 0750), 0);
  }
}

TEST_F(TrustFiles, ParentOfTheBaseOwnedByAnotherUserIsRefused) {
  uid_t uid = user();
  std::string parent = base_ + "/theirs";
  ASSERT_EQ(mkdir(parent.c_str(), 0755), 0);
  ASSERT_EQ(chown(parent.c_str(), uid, userGroup()), 0);
  std::string base = parent + "/keelan";
  ASSERT_EQ(mkdir(base.c_str(), 0700), 0);  // root's, but its parent is not
  Result r = keelan({"daemon", "start"}, 20000, {{"BASE_DIRECTORY", base}});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("refusing " + parent + ":"), std::string::npos) << r.err;
}

// A refused start creates nothing where a planted link points.
TEST_F(TrustFiles, ASymlinkedBaseGetsNothingCreatedThroughIt) {
  std::string target = base_ + "/target";
  ASSERT_EQ(mkdir(target.c_str(), 0700), 0);
  std::string link = base_ + "/link";
  ASSERT_EQ(symlink(target.c_str(), link.c_str()), 0);
  Result r = keelan({"daemon", "start"}, 20000, {{"BASE_DIRECTORY", link}});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("symlink"), std::string::npos) << r.err;
  for (const char* made : {"/logs", "/run", "/data"})
    EXPECT_NE(access((target + made).c_str(), F_OK), 0) << target + made << " was created through the link";
}

TEST_F(TrustFiles, StickyWorldWritableParentOnlyForADirectoryWeOwn) {
  uid_t uid = user();
  std::string sticky = base_ + "/tmpish";
  ASSERT_EQ(mkdir(sticky.c_str(), 0755), 0);
  ASSERT_EQ(chmod(sticky.c_str(), 01777), 0);
  ASSERT_EQ(chmod(base_.c_str(), 0755), 0);
  // Another user made the directory in the sticky /tmp-like parent.
  std::string planted = sticky + "/planted";
  ASSERT_EQ(mkdir(planted.c_str(), 0755), 0);
  ASSERT_EQ(chown(planted.c_str(), uid, userGroup()), 0);
  Result r = keelan({"daemon", "start"}, 20000, {{"BASE_DIRECTORY", planted}});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("refusing " + planted + ":"), std::string::npos) << r.err;
  // Ours (root's) in the same parent is fine.
  std::string ours = sticky + "/ours";
  ASSERT_EQ(mkdir(ours.c_str(), 0755), 0);
  Result ok = keelan({"daemon", "start"}, 20000, {{"BASE_DIRECTORY", ours}});
  EXPECT_EQ(ok.code, 0) << ok.err;
  EXPECT_EQ(keelan({"daemon", "stop"}, 20000, {{"BASE_DIRECTORY", ours}}).code, 0);
}

TEST_F(TrustFiles, DeployDoesNotAutoStartOnAnUntrustedBase) {
  ASSERT_EQ(chmod(base_.c_str(), 0777), 0);
  Result r = keelan({"deploy", "x", "--", "/bin/true"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("refusing " + base_ + ":"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("mode 0777"), std::string::npos) << r.err;
}

TEST_F(TrustFiles, CreatedDirectoriesHaveTheRightOwnerAndMode) {
  startDaemon();
  for (auto [sub, mode] : {std::pair{"/run", 0700u}, {"/data", 0700u}, {"/logs", 0755u}, {"/logs/ships", 0750u}}) {
    struct stat info {};
    ASSERT_EQ(lstat((base_ + sub).c_str(), &info), 0) << sub;
    EXPECT_EQ(info.st_uid, 0u) << sub;
    EXPECT_EQ(info.st_mode & 07777, mode) << sub;
  }
}

// ---------------------------------------------- symlinks, FIFOs, devices

TEST_F(TrustFiles, SymlinkInAnIntermediateComponentOfTheLogPathIsRefused) {
  std::string elsewhere = base_ + "/elsewhere";
  ASSERT_EQ(mkdir(elsewhere.c_str(), 0755), 0);
  ASSERT_EQ(mkdir((elsewhere + "/sub").c_str(), 0755), 0);
  ASSERT_EQ(symlink(elsewhere.c_str(), (base_ + "/link").c_str()), 0);
  Result r = keelan({"daemon", "start", "--log-file", base_ + "/link/sub/daemon.log"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("symlink"), std::string::npos) << r.err;
  EXPECT_NE(access((elsewhere + "/sub/daemon.log").c_str(), F_OK), 0) << "nothing written through the link";
}

TEST_F(TrustFiles, ShipLogDirectorySwappedForASymlinkIsRefused) {
  startDaemon();
  std::string elsewhere = base_ + "/elsewhere";
  ASSERT_EQ(mkdir(elsewhere.c_str(), 0755), 0);
  ASSERT_EQ(rename((base_ + "/logs/ships").c_str(), (base_ + "/logs/ships.old").c_str()), 0);
  ASSERT_EQ(symlink(elsewhere.c_str(), (base_ + "/logs/ships").c_str()), 0);
  Result r = keelan({"deploy", "evil", "--", "/bin/echo", "hi"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("symlink"), std::string::npos) << r.err;
  EXPECT_NE(access((elsewhere + "/evil.out.log").c_str(), F_OK), 0);
}

TEST_F(TrustFiles, FifoShipLogIsRefusedAndTheDaemonKeepsAnswering) {
  startDaemon();
  ASSERT_EQ(mkfifo((base_ + "/logs/ships/fifo.out.log").c_str(), 0600), 0);
  int64_t before = monotonicMs();
  Result r = keelan({"deploy", "fifo", "--", "/bin/true"}, 5000);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("not a regular file"), std::string::npos) << r.err;
  EXPECT_LT(monotonicMs() - before, 4000);
  EXPECT_EQ(keelan({"ps"}, 5000).code, 0) << "the loop was not blocked";
  keelan({"logs", "fifo"}, 5000);  // neither does the CLI block on it (the harness fails past 5 s)
}

TEST_F(TrustFiles, FifoDaemonLogIsRefusedWithoutHanging) {
  ASSERT_EQ(mkdir((base_ + "/logs").c_str(), 0755), 0);
  ASSERT_EQ(mkfifo((base_ + "/logs/monitor-daemon.log").c_str(), 0600), 0);
  Result r = keelan({"daemon", "start"}, 10000);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("not a regular file"), std::string::npos) << r.err;
}

TEST_F(TrustFiles, FifoPidFileNeitherHangsStopNorStatus) {
  ASSERT_EQ(mkdir((base_ + "/run").c_str(), 0700), 0);
  ASSERT_EQ(mkfifo((base_ + "/run/monitor-daemon.pid").c_str(), 0600), 0);
  EXPECT_EQ(keelan({"daemon", "stop"}, 5000).code, 0);
  EXPECT_EQ(keelan({"daemon", "status"}, 5000).code, 3);
  Result r = keelan({"daemon", "start"}, 10000);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("not a regular file"), std::string::npos) << r.err;
}

TEST_F(TrustFiles, PlantedShipFileIsNotDeployed) {
  uid_t uid = user();
  startDaemon();
  std::string ships = base_ + "/ships";
  ASSERT_EQ(mkdir(ships.c_str(), 0755), 0);
  std::string file = ships + "/planted.json";
  writeFile(file, R"({"command":["/bin/sh","-c","touch )" + base_ + R"(/pwned"]})");
  ASSERT_EQ(chown(file.c_str(), uid, userGroup()), 0);
  Result r = keelan({"deploy", "planted"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("refusing " + file + ":"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("(kltfiles)"), std::string::npos) << r.err;
  // Ours is fine.
  ASSERT_EQ(chown(file.c_str(), 0, 0), 0);
  Result ok = keelan({"deploy", "planted"});
  EXPECT_EQ(ok.code, 0) << ok.err;
}

// ------------------------------------------------ whom the CLI talks to

TEST_F(TrustFiles, CliRefusesASocketOwnedByAnotherUser) {
  uid_t uid = user();
  gid_t gid = userGroup();
  std::string dir = base_ + "/theirs";
  ASSERT_EQ(mkdir(dir.c_str(), 0755), 0);
  ASSERT_EQ(chown(dir.c_str(), uid, gid), 0);
  ASSERT_EQ(chmod(base_.c_str(), 0755), 0);
  std::string path = dir + "/fake.sock";
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  pid_t fake = fork();
  if (fake == 0) {
    // A stranger's "daemon": it answers every request with an empty list.
    close(ready[0]);
    if (setgid(gid) != 0 || setuid(uid) != 0) _exit(1);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    memcpy(address.sun_path, path.c_str(), path.size());
    if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || listen(fd, 8) != 0) _exit(1);
    if (write(ready[1], "x", 1) != 1) _exit(1);
    for (;;) {
      int client = accept(fd, nullptr, nullptr);
      if (client < 0) continue;
      char buffer[4096];
      if (read(client, buffer, sizeof buffer) > 0) {
        const char reply[] = "{\"id\":null,\"ok\":true,\"ships\":[]}\n";
        if (write(client, reply, sizeof reply - 1) < 0) _exit(1);
      }
      close(client);
    }
  }
  strangers_.push_back(fake);
  close(ready[1]);
  char byte = 0;
  ASSERT_EQ(read(ready[0], &byte, 1), 1);
  close(ready[0]);
  Result r = keelan({"ps"}, 5000, {{"KEELAN_SOCKET", path}});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("keelan: refusing to talk to a socket owned by uid " + std::to_string(uid)), std::string::npos)
      << r.err;
  Result deploy = keelan({"deploy", "x", "--", "/bin/true"}, 5000, {{"KEELAN_SOCKET", path}});
  EXPECT_EQ(deploy.code, 1);
  EXPECT_NE(deploy.err.find("refusing to talk to a socket owned by uid"), std::string::npos) << deploy.err;
}

// ------------------------------------------------------ whom stop signals

TEST_F(TrustFiles, StopDoesNotSignalAPidFromAPidFileOwnedByAnotherUser) {
  uid_t uid = user();
  pid_t victim = startSleeper();
  ASSERT_EQ(mkdir((base_ + "/run").c_str(), 0700), 0);
  std::string pidFile = base_ + "/run/monitor-daemon.pid";
  writeFile(pidFile, std::to_string(victim) + "\n");
  ASSERT_EQ(chown(pidFile.c_str(), uid, userGroup()), 0);
  int lock = open(pidFile.c_str(), O_RDONLY | O_CLOEXEC);  // looks held by a live daemon
  ASSERT_EQ(flock(lock, LOCK_EX | LOCK_NB), 0);
  Result r = keelan({"daemon", "stop", "--timeout", "1"});
  close(lock);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("owned by uid " + std::to_string(uid)), std::string::npos) << r.err;
  EXPECT_TRUE(processAlive(victim)) << "an arbitrary process was signalled";
}

TEST_F(TrustFiles, StopDoesNotSignalAProcessThatIsNotThisBasesDaemon) {
  pid_t victim = startSleeper();
  ASSERT_EQ(mkdir((base_ + "/run").c_str(), 0700), 0);
  std::string pidFile = base_ + "/run/monitor-daemon.pid";
  writeFile(pidFile, std::to_string(victim) + "\n");
  int lock = open(pidFile.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_EQ(flock(lock, LOCK_EX | LOCK_NB), 0);
  Result r = keelan({"daemon", "stop", "--timeout", "1"});
  close(lock);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("not the keelan daemon holding that PID file"), std::string::npos) << r.err;
  EXPECT_TRUE(processAlive(victim));
  // The real daemon is still stopped as before.
  unlink(pidFile.c_str());
  startDaemon();
  pid_t daemon = daemonPid();
  Result stop = keelan({"daemon", "stop"});
  EXPECT_EQ(stop.code, 0) << stop.err;
  EXPECT_TRUE(waitForExit(daemon, 10000));
}

// ------------------------------------------------------------- --socket

TEST_F(TrustFiles, SocketOptionKeepsALiveSocketOfAnotherDaemon) {
  startDaemon();
  pid_t first = daemonPid();
  std::string other = tempDir();
  std::string socket = base_ + "/run/keelan.sock";
  Result r = keelan({"daemon", "start", "--socket", socket}, 20000, {{"BASE_DIRECTORY", other}});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("another daemon answers on it"), std::string::npos) << r.err;
  auto status = json({"daemon", "status", "--json"});
  EXPECT_EQ(status.value("pid", 0), first) << "the first daemon still owns its socket";
}

TEST_F(TrustFiles, SocketOptionKeepsAFileAndReplacesAStaleSocket) {
  std::string file = base_ + "/precious";
  writeFile(file, "precious\n");
  Result r = keelan({"daemon", "start", "--socket", file});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("something else is there"), std::string::npos) << r.err;
  EXPECT_EQ(readFile(file), "precious\n");
  // A socket nobody listens on any more may be replaced.
  std::string stale = base_ + "/stale.sock";
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  memcpy(address.sun_path, stale.c_str(), stale.size());
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  close(fd);
  Result ok = keelan({"daemon", "start", "--socket", stale});
  EXPECT_EQ(ok.code, 0) << ok.err;
  EXPECT_EQ(keelan({"ps"}, 5000, {{"KEELAN_SOCKET", stale}}).code, 0);
}

// ----------------------------------------------------------------- chroot

TEST_F(TrustFiles, AbsoluteSymlinkInTheRootResolvesInsideTheRoot) {
  startDaemon();
  std::string root = base_ + "/linkroot";
  ASSERT_EQ(mkdir(root.c_str(), 0755), 0);
  ASSERT_EQ(symlink("/usr/bin", (root + "/bin").c_str()), 0);  // and no usr/ inside
  Result r = keelan({"deploy", "broken", "--root", root, "--", "/bin/true"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("not an executable file inside root"), std::string::npos) << r.err;
  Result searched = keelan({"deploy", "searched", "--root", root, "--", "true"});
  EXPECT_EQ(searched.code, 1);
  EXPECT_NE(searched.err.find("not found in the PATH inside root"), std::string::npos) << searched.err;
  // With usr/bin inside, the same link works.
  std::string made = makeRoot();
  std::string good = base_ + "/goodroot";
  ASSERT_EQ(mkdir(good.c_str(), 0755), 0);
  ASSERT_EQ(mkdir((good + "/usr").c_str(), 0755), 0);
  ASSERT_EQ(rename((made + "/bin").c_str(), (good + "/usr/bin").c_str()), 0);
  ASSERT_EQ(symlink("/usr/bin", (good + "/bin").c_str()), 0);
  Result ok = keelan({"deploy", "good", "--wait", "--root", good, "--", "/bin/sh", "-c", "exit 7"});
  EXPECT_EQ(ok.code, 7) << ok.err;
}

// ---------------------------------------------------------------- NUL

TEST_F(TrustFiles, NulInAnyFieldIsRefused) {
  startDaemon();
  const std::string nul = "\\u0000";
  std::vector<std::string> ships = {
      R"({"command":["/bin/true"],"onExit":"touch /tmp/x)" + nul + R"(y"})",
      R"({"command":["/bin/tr)" + nul + R"(ue"]})",
      R"({"command":["/bin/true","a)" + nul + R"(b"]})",
      R"({"command":["/bin/true"],"env":{"K)" + nul + R"(":"v"}})",
      R"({"command":["/bin/true"],"env":{"K":"v)" + nul + R"("}})",
      R"({"command":["/bin/true"],"root":"/)" + nul + R"("})",
      R"({"command":["/bin/true"],"cwd":"/)" + nul + R"(tmp"})",
      R"({"command":["/bin/true"],"user":"root)" + nul + R"("})",
      R"({"command":["/bin/true"],"restart":"no)" + nul + R"("})",
  };
  std::string requests;
  for (const auto& ship : ships) requests += R"({"op":"deploy","name":"n","ship":)" + ship + "}\n";
  requests += R"({"op":"deploy","name":"n)" + nul + R"(x","ship":{"command":["/bin/true"]}})" "\n";
  size_t count = ships.size() + 1;
  auto replies = rawExchange(requests, count);
  ASSERT_EQ(replies.size(), count);
  for (const auto& line : replies) {
    auto reply = nlohmann::json::parse(line);
    EXPECT_FALSE(reply.value("ok", true)) << line;
    EXPECT_EQ(reply["error"].value("code", ""), "invalid_argument") << line;
    EXPECT_NE(reply["error"].value("message", "").find("NUL"), std::string::npos) << line;
  }
  EXPECT_EQ(keelan({"ps", "--json"}).out.find("\"n\""), std::string::npos) << "nothing was deployed";
  // The same from a ship file.
  std::string file = base_ + "/nul.json";
  writeFile(file, ships[0]);
  Result r = keelan({"deploy", "fromfile", "--file", file});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("NUL"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace keelan::test
