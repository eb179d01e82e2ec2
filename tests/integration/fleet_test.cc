// Fleet files and `keelan apply` through the real binary, a real daemon and
// busybox chroots: create, leave alone, replace once, prune, dry run, a
// failing ship among good ones, typos with line and column; desired state
// across a simulated reboot (--x-boot-id); env files; label selectors.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <set>

#include "harness.h"

namespace keelan::test {
namespace {

class Fleet : public KeelanTest {
 protected:
  void SetUp() override {
    KeelanTest::SetUp();
    startDaemon();
    root_ = makeRoot();
  }
  void write(const std::string& path, const std::string& text) {
    std::ofstream out(path);
    out << text;
  }
  // A [ship.NAME] table running `script` in the test's chroot.
  std::string shipTable(const std::string& name, const std::string& script, const std::string& extra = "") {
    return "[ship." + name + "]\nroot = \"" + root_ + "\"\ncommand = [\"/bin/sh\", \"-c\", \"" + script + "\"]\n" +
           extra + "\n";
  }
  std::string fleetFile() { return base_ + "/fleet.toml"; }
  pid_t pidOf(const std::string& name) { return inspect(name)["processId"].get<pid_t>(); }
  uint64_t deployCountOf(const std::string& name) { return inspect(name)["deployCount"].get<uint64_t>(); }
  Result apply(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"apply", fleetFile()};
    args.insert(args.end(), extra.begin(), extra.end());
    return keelan(args);
  }
  std::set<std::string> namesOf(const nlohmann::json& ships) {
    std::set<std::string> names;
    for (const auto& ship : ships) names.insert(ship["name"].get<std::string>());
    return names;
  }
  void stopDaemon() {
    pid_t pid = daemonPid();
    ASSERT_EQ(keelan({"daemon", "stop"}).code, 0);
    ASSERT_EQ(waitChild(pid, 5000), 0);
  }
  // As a reboot would: the ship's process is gone when the daemon comes back.
  void killAdopted(pid_t pid) {
    ASSERT_EQ(kill(pid, SIGKILL), 0);
    ASSERT_EQ(waitChild(pid, 5000), 128 + SIGKILL);
  }
};

bool hasLine(const std::string& out, const std::string& line) {
  return ("\n" + out).find("\n" + line + "\n") != std::string::npos;
}

TEST_F(Fleet, ApplyCreatesThenLeavesIdenticalShipsAloneAndReplacesAChangedOneOnce) {
  write(fleetFile(), shipTable("web", "exec sleep 1000") + shipTable("api", "exec sleep 1001"));
  Result first = apply();
  ASSERT_EQ(first.code, 0) << first.out << first.err;
  EXPECT_TRUE(hasLine(first.out, "2 created, 0 updated, 0 unchanged, 0 removed")) << first.out;
  pid_t web = pidOf("web"), api = pidOf("api");
  EXPECT_EQ(inspect("web")["applied"], true);

  Result again = apply();
  ASSERT_EQ(again.code, 0) << again.err;
  EXPECT_TRUE(hasLine(again.out, "0 created, 0 updated, 2 unchanged, 0 removed")) << again.out;
  EXPECT_EQ(pidOf("web"), web);
  EXPECT_EQ(pidOf("api"), api);
  EXPECT_EQ(deployCountOf("web"), 1u);
  EXPECT_EQ(deployCountOf("api"), 1u);

  write(fleetFile(), shipTable("web", "exec sleep 1000") + shipTable("api", "exec sleep 1002"));
  Result changed = apply();
  ASSERT_EQ(changed.code, 0) << changed.err;
  EXPECT_TRUE(hasLine(changed.out, "0 created, 1 updated, 1 unchanged, 0 removed")) << changed.out;
  EXPECT_NE(changed.out.find("updated api (definition changed (command))"), std::string::npos) << changed.out;
  EXPECT_EQ(pidOf("web"), web);
  EXPECT_NE(pidOf("api"), api);
  EXPECT_EQ(deployCountOf("api"), 2u);
  EXPECT_EQ(inspect("api")["command"][2], "exec sleep 1002");

  Result settled = apply();
  EXPECT_TRUE(hasLine(settled.out, "0 created, 0 updated, 2 unchanged, 0 removed")) << settled.out;
  EXPECT_EQ(deployCountOf("api"), 2u);
}

TEST_F(Fleet, PruneRemovesOnlyShipsAnEarlierApplyCreated) {
  write(fleetFile(), shipTable("keep", "exec sleep 1000") + shipTable("drop", "exec sleep 1000"));
  ASSERT_EQ(apply().code, 0);
  ASSERT_EQ(deploySh("byhand", "exec sleep 1000").code, 0);
  write(fleetFile(), shipTable("keep", "exec sleep 1000"));
  Result withoutPrune = apply();
  EXPECT_TRUE(hasLine(withoutPrune.out, "0 created, 0 updated, 1 unchanged, 0 removed")) << withoutPrune.out;
  EXPECT_EQ(inspect("drop")["status"], "running");

  Result pruned = apply({"--prune"});
  ASSERT_EQ(pruned.code, 0) << pruned.out << pruned.err;
  EXPECT_TRUE(hasLine(pruned.out, "0 created, 0 updated, 1 unchanged, 1 removed")) << pruned.out;
  EXPECT_NE(keelan({"inspect", "drop"}).code, 0);
  EXPECT_EQ(inspect("byhand")["status"], "running");
  EXPECT_EQ(inspect("keep")["status"], "running");
}

TEST_F(Fleet, DryRunPrintsThePlanAndChangesNothing) {
  write(fleetFile(), shipTable("web", "exec sleep 1000") + shipTable("old", "exec sleep 1000"));
  ASSERT_EQ(apply().code, 0);
  pid_t web = pidOf("web");
  write(fleetFile(), shipTable("web", "exec sleep 1003") + shipTable("fresh", "exec sleep 1000"));
  Result plan = apply({"--dry-run", "--prune"});
  ASSERT_EQ(plan.code, 0) << plan.err;
  EXPECT_NE(plan.out.find("update web (definition changed (command))"), std::string::npos) << plan.out;
  EXPECT_TRUE(hasLine(plan.out, "create fresh")) << plan.out;
  EXPECT_TRUE(hasLine(plan.out, "remove old (no longer in the files)")) << plan.out;
  EXPECT_TRUE(hasLine(plan.out, "1 created, 1 updated, 0 unchanged, 1 removed (dry run: nothing was changed)")) << plan.out;
  EXPECT_EQ(pidOf("web"), web);
  EXPECT_EQ(deployCountOf("web"), 1u);
  EXPECT_EQ(inspect("old")["status"], "running");
  EXPECT_NE(keelan({"inspect", "fresh"}).code, 0);

  nlohmann::json asJson = nlohmann::json::parse(apply({"--dry-run", "--json"}).out);
  EXPECT_EQ(asJson["dryRun"], true);
  EXPECT_EQ(asJson["counts"]["updated"], 1);
}

TEST_F(Fleet, OneFailingShipExitsOneWhileTheOthersAreApplied) {
  write(fleetFile(), shipTable("good", "exec sleep 1000") +
                         "[ship.bad]\nroot = \"" + root_ + "\"\ncommand = [\"/bin/no-such-program\"]\n");
  Result r = apply();
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("failed bad: "), std::string::npos) << r.out;
  EXPECT_TRUE(hasLine(r.out, "1 created, 0 updated, 0 unchanged, 0 removed, 1 failed")) << r.out;
  EXPECT_EQ(inspect("good")["status"], "running");
}

TEST_F(Fleet, TypodKeyAndWrongTypeAreRefusedWithLineAndColumn) {
  write(fleetFile(), shipTable("web", "exec sleep 1000") + "[ship.api]\ncomand = [\"/bin/true\"]\n");
  Result typo = apply();
  EXPECT_EQ(typo.code, 2);
  EXPECT_NE(typo.err.find("fleet.toml:6:1: unknown key 'comand'"), std::string::npos) << typo.err;
  EXPECT_NE(keelan({"inspect", "web"}).code, 0) << "nothing is applied from a bad file";

  write(fleetFile(), "[ship.web]\ncommand = [\"/bin/true\"]\nrestart = \"sometimes\"\n");
  Result bad = apply();
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("fleet.toml:3:11: restart: field 'restart' must be"), std::string::npos) << bad.err;

  write(fleetFile(), "[ship.web]\ncommand = \"/bin/true\"\n");
  Result type = apply();
  EXPECT_EQ(type.code, 2);
  EXPECT_NE(type.err.find("fleet.toml:2:11: 'command' must be an array of strings"), std::string::npos) << type.err;
}

TEST_F(Fleet, AfterARebootShipsWantedRunningStartAgainAndStoppedOnesDoNot) {
  ASSERT_EQ(deploySh("up", "exec sleep 1000").code, 0);
  ASSERT_EQ(deploySh("down", "exec sleep 1000").code, 0);
  ASSERT_EQ(keelan({"stop", "down"}).code, 0);
  pid_t before = pidOf("up");
  EXPECT_EQ(inspect("up")["wanted"], "running");
  EXPECT_EQ(inspect("down")["wanted"], "stopped");
  stopDaemon();
  killAdopted(before);
  startDaemon({"--x-boot-id", "00000000-0000-0000-0000-00000000beef"});
  auto up = inspect("up");
  EXPECT_EQ(up["status"], "running");
  EXPECT_NE(up["processId"], before);
  EXPECT_EQ(up["bootId"], "00000000-0000-0000-0000-00000000beef");
  ASSERT_GE(up["history"].size(), 1u);
  EXPECT_EQ(up["history"].back()["stoppedReason"], "the host rebooted");
  EXPECT_EQ(inspect("down")["status"], "stopped");
}

TEST_F(Fleet, WithoutARebootAStoppedDaemonStartsNothingNew) {
  ASSERT_EQ(deploySh("up", "exec sleep 1000").code, 0);
  pid_t before = pidOf("up");
  stopDaemon();
  killAdopted(before);
  startDaemon();
  EXPECT_NE(inspect("up")["status"], "running");
}

TEST_F(Fleet, EnvFileValuesReachTheShipButNeverTheRecordAndAreReadAtEachStart) {
  std::string envFile = base_ + "/app.env";
  write(envFile, "# the secret\nSECRET=\"hunter2\"\nPLAIN = spaced  \n");
  ASSERT_EQ(deploySh("envy", "echo \"$SECRET/$PLAIN\" > /tmp/seen; exec sleep 1000", {"--env-file", envFile}).code, 0);
  ASSERT_TRUE(eventually([&] { return readFile(root_ + "/tmp/seen") == "hunter2/spaced\n"; })) << readFile(root_ + "/tmp/seen");
  Result shown = keelan({"inspect", "envy", "--json"});
  EXPECT_EQ(shown.out.find("hunter2"), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find(envFile), std::string::npos);
  // The file names and the keys are shown; the values never.
  EXPECT_EQ(nlohmann::json::parse(shown.out)["envFileKeys"][envFile], nlohmann::json({"PLAIN", "SECRET"})) << shown.out;

  write(envFile, "SECRET=changed\n");
  ASSERT_EQ(keelan({"stop", "envy"}).code, 0);
  unlink((root_ + "/tmp/seen").c_str());
  ASSERT_EQ(keelan({"deploy", "envy"}).code, 0);
  ASSERT_TRUE(eventually([&] { return readFile(root_ + "/tmp/seen") == "changed/\n"; })) << readFile(root_ + "/tmp/seen");

  // A link planted at the path is refused, and the start fails saying why.
  ASSERT_EQ(keelan({"stop", "envy"}).code, 0);
  unlink(envFile.c_str());
  ASSERT_EQ(symlink("/etc/shadow", envFile.c_str()), 0);
  Result linked = keelan({"deploy", "envy"});
  EXPECT_NE(linked.code, 0);
  EXPECT_NE(linked.err.find("env file " + envFile + ": is a symbolic link"), std::string::npos) << linked.err;
  EXPECT_EQ(keelan({"inspect", "envy", "--json"}).out.find("root:"), std::string::npos);
}

TEST_F(Fleet, LabelsSelectShipsForPsStopAndRm) {
  ASSERT_EQ(deploySh("w1", "exec sleep 1000", {"--label", "tier=web"}).code, 0);
  ASSERT_EQ(deploySh("w2", "exec sleep 1000", {"--label", "tier=web", "--label", "zone=a"}).code, 0);
  ASSERT_EQ(deploySh("db", "exec sleep 1000", {"--label", "tier=db"}).code, 0);
  auto web = json({"ps", "--json", "--label", "tier=web"});
  EXPECT_EQ(namesOf(web), (std::set<std::string>{"w1", "w2"}));
  EXPECT_EQ(web[0]["labels"]["tier"], "web");
  EXPECT_EQ(namesOf(json({"ps", "--json", "--label", "tier=web", "--label", "zone=a"})), (std::set<std::string>{"w2"}));

  Result stopped = keelan({"stop", "--label", "tier=web"});
  ASSERT_EQ(stopped.code, 0) << stopped.err;
  EXPECT_EQ(inspect("w1")["status"], "stopped");
  EXPECT_EQ(inspect("w2")["status"], "stopped");
  EXPECT_EQ(inspect("db")["status"], "running");

  Result removed = keelan({"rm", "--label", "tier=web"});
  ASSERT_EQ(removed.code, 0) << removed.err;
  EXPECT_EQ(namesOf(json({"ps", "--json", "--all"})), (std::set<std::string>{"db"}));
  EXPECT_EQ(keelan({"stop", "--label", "bad label=x"}).code, 2);
  EXPECT_EQ(keelan({"stop", "db", "--label", "tier=db"}).code, 2);
}

TEST_F(Fleet, ApplyReadsDirectoriesOfTomlAndJsonShipFiles) {
  std::string dir = base_ + "/conf.d";
  mkdir(dir.c_str(), 0755);
  write(dir + "/alpha.toml", "root = \"" + root_ + "\"\ncommand = [\"/bin/sleep\", \"1000\"]\nlabels = { app = \"x\" }\n");
  write(dir + "/beta.json", "{\"root\": \"" + root_ + "\", \"command\": [\"/bin/sleep\", \"1000\"]}");
  Result r = keelan({"apply", dir});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_TRUE(hasLine(r.out, "2 created, 0 updated, 0 unchanged, 0 removed")) << r.out;
  EXPECT_EQ(inspect("alpha")["labels"]["app"], "x");
  EXPECT_EQ(inspect("beta")["status"], "running");
}

}  // namespace
}  // namespace keelan::test
