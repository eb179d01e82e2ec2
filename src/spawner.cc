#include "keelan/spawner.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <algorithm>

#include "keelan/chroot_path.h"
#include "keelan/env_file.h"
#include "keelan/fs_trust.h"
#include "keelan/logger.h"
#include "keelan/pidfd_budget.h"
#include "keelan/resource_limits.h"
#include "keelan/ship_exec.h"

namespace keelan {

namespace {
bool isDirectory(const std::string& path) {
  struct stat info {};
  return stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode);
}

bool foundInPath(const ShipSpec& spec, const std::string& program) {
  auto custom = spec.env.find("PATH");
  std::string path = custom != spec.env.end() ? custom->second : kShipPath;
  for (size_t start = 0; start <= path.size();) {
    size_t end = std::min(path.find(':', start), path.size());
    std::string dir = path.substr(start, end - start);
    if (!dir.empty() && isExecutableInRoot(spec.root, (dir[0] == '/' ? dir : "/" + dir) + "/" + program)) return true;
    start = end + 1;
  }
  return false;
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}
}  // namespace

Spawner::Spawner(uv_loop_t* loop, const DaemonConfig& config, PidfdBudget& pidfds)
    : loop_(loop), config_(config), pidfds_(pidfds), devNull_(open("/dev/null", O_RDONLY | O_CLOEXEC)),
      shipExec_(findShipExecBinary(config.selfExe)), logFiles_(config.paths, ShipLogFiles::capacityForFdLimit()) {}

std::string Spawner::helperDescription() const {
  return shipExec_.empty() ? config_.selfExe + " " + kShipExecVerb : shipExec_;
}

std::string Spawner::check(const ShipSpec& spec) const {
  if (!spec.root.empty() && !isDirectory(spec.root)) return "root " + spec.root + " is not a directory";
  const std::string& program = spec.command[0];
  if (program[0] == '/') {
    if (!isExecutableInRoot(spec.root, program))
      return "command " + program + " is not an executable file" + (spec.root.empty() ? "" : " inside root " + spec.root);
  } else if (program.find('/') == std::string::npos && !spec.root.empty() && !foundInPath(spec, program)) {
    return "command " + program + " not found in the PATH inside root " + spec.root;
  }
  const std::string& cwd = spec.cwd;
  if (!cwd.empty() && !(spec.root.empty() ? isDirectory(cwd) : isDirectoryInRoot(spec.root, cwd)))
    return "cwd " + cwd + " is not a directory" + (spec.root.empty() ? "" : " inside root " + spec.root);
  return "";
}

SpawnResult Spawner::spawnShipIn(const ShipSpec& spec, const std::string& cgroupDir) {
  SpawnResult result;
  if ((result.error = check(spec)) != "") return result;
  // The helper gets numeric ids: the root may have no passwd, and the
  // static helper no NSS.
  std::string ids;
  if (!spec.user.empty()) {
    UserLookup user = users_.resolve(spec.user);
    if ((result.error = user.error) != "") return result;
    ids = std::move(user.ids);
  }
  ShipLogFds logs;
  if ((result.error = logFiles_.acquire(spec.name, logs)) != "") return result;
  ProcessSpec process;
  // libuv cannot set rlimits in the child, so a ship whose limits differ
  // from the daemon's goes through the helper too (always, under the unit,
  // whose LimitNOFILE= is far above a ship's default 1024).
  // Read at each spawn: the daemon may raise its own limit after start-up.
  struct rlimit own {};
  getrlimit(RLIMIT_NOFILE, &own);
  auto asLimit = [](rlim_t value) { return value == RLIM_INFINITY ? kRlimitInfinity : static_cast<uint64_t>(value); };
  std::vector<std::string> rlimits = rlimitHelperOptions(spec.limits, {asLimit(own.rlim_cur), asLimit(own.rlim_max)});
  bool helper = !spec.root.empty() || !spec.user.empty() || !cgroupDir.empty() || !rlimits.empty();
  // Without a root the ship starts in the base directory, with or without the helper.
  if (helper) {
    if (shipExec_.empty()) process.argv = {config_.selfExe, kShipExecVerb};
    else process.argv = {shipExec_};
    if (!cgroupDir.empty()) process.argv.push_back("--cgroup=" + cgroupDir);
    process.argv.insert(process.argv.end(), rlimits.begin(), rlimits.end());
    process.argv.insert(process.argv.end(),
                        {spec.root, spec.cwd.empty() && spec.root.empty() ? config_.paths.base : spec.cwd, ids, "--"});
  }
  process.argv.insert(process.argv.end(), spec.command.begin(), spec.command.end());
  // Read at each start, so a changed file counts from the next one; the
  // ship's own `env` wins over its files (as docker's --env over --env-file).
  std::map<std::string, std::string> environment;
  for (const auto& path : spec.envFiles) {
    auto read = readEnvFile(path);
    if (!read) {
      result.error = read.error().message;
      return result;
    }
    for (auto& [key, value] : read.value()) environment[key] = std::move(value);
  }
  for (const auto& [key, value] : spec.env) environment[key] = value;
  process.env = {std::string("PATH=") + kShipPath, "KEELAN_SHIP=" + spec.name};
  for (const auto& [key, value] : environment) {
    if (key == "PATH" || key == "KEELAN_SHIP") process.env.erase(process.env.begin() + (key == "PATH" ? 0 : 1));
    process.env.push_back(key + "=" + value);
  }
  process.cwd = helper ? "/" : (spec.cwd.empty() ? config_.paths.base : spec.cwd);
  process.stdoutFd = logs.out;
  process.stderrFd = logs.err;
  process.name = spec.command[0];
  result = spawn(process);
  if (result.error.empty()) result.pidfd = pidfds_.open(result.pid);
  return result;
}

SpawnResult Spawner::spawn(const ProcessSpec& process) {
  SpawnResult result;
  std::vector<std::string> argvStrings = process.argv, envStrings = process.env;
  std::vector<char*> argv = pointers(argvStrings), envp = pointers(envStrings);
  uv_stdio_container_t stdio[3];
  for (auto& slot : stdio) slot.flags = UV_INHERIT_FD;
  stdio[0].data.fd = devNull_.get();
  stdio[1].data.fd = process.stdoutFd;
  stdio[2].data.fd = process.stderrFd;
  uv_process_options_t options{};
  options.file = argv[0];
  options.args = argv.data();
  options.env = envp.data();
  options.cwd = process.cwd.c_str();
  options.flags = UV_PROCESS_DETACHED;
  options.stdio_count = 3;
  options.stdio = stdio;
  // A failed uv_spawn still initialised the handle: it is closed either way.
  // Closing it also makes libuv forget the child, so that our reaper is the
  // one and only one.
  auto* handle = new uv_process_t{};
  int rc = uv_spawn(loop_, handle, &options);
  if (rc == 0) result.pid = handle->pid;
  uv_close(reinterpret_cast<uv_handle_t*>(handle), [](uv_handle_t* h) { delete reinterpret_cast<uv_process_t*>(h); });
  if (rc != 0) {
    result.cause = uv_strerror(rc);
    result.error = "cannot execute " + (process.name.empty() ? process.argv[0] : process.name) + ": " + uv_strerror(rc);
    return result;
  }
  return result;
}

}  // namespace keelan
