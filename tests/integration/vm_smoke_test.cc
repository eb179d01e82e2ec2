// The README's main job, end to end: start, deploy, wait with the exact exit
// code, ps, stop. Named Vm* so tests/vm/run runs it on Debian 12's kernel too.
#include <unistd.h>

#include "harness.h"

namespace keelan::test {
namespace {

class VmSmoke : public KeelanTest {};

TEST_F(VmSmoke, ReadmeMainJob) {
  startDaemon();
  std::string root = makeRoot();
  Result job = keelan({"deploy", "job", "--root", root, "--wait", "--", "/bin/sh", "-c", "exit 42"});
  EXPECT_EQ(job.code, 42) << job.err;
  Result web = keelan({"deploy", "web", "--root", root, "--", "/bin/sleep", "1000"});
  ASSERT_EQ(web.code, 0) << web.err;
  pid_t pid = inspect("web")["processId"].get<pid_t>();
  EXPECT_NE(keelan({"ps"}).out.find("web"), std::string::npos);
  EXPECT_EQ(keelan({"stop", "web", "--timeout", "5"}).code, 0);
  EXPECT_FALSE(processAlive(pid));
  EXPECT_EQ(inspect("web")["status"], "stopped");
  EXPECT_EQ(inspect("job")["exitCode"], 42);
}

}  // namespace
}  // namespace keelan::test
