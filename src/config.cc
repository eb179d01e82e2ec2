#include "keelan/config.h"

#include <nlohmann/json.hpp>

namespace keelan {

using nlohmann::json;

std::string encodeReexecConfig(const DaemonConfig& config) {
  const Paths& p = config.paths;
  json out = {{"base", p.base},
              {"logFile", p.logFile},
              {"pidFile", p.pidFile},
              {"socket", p.socket},
              {"dataDir", p.dataDir},
              {"shipLogDir", p.shipLogDir},
              {"shipsDir", p.shipsDir},
              {"interval", config.intervalSeconds},
              {"foreground", config.foreground},
              {"selfExe", config.selfExe},
              {"listenFd", config.inheritedListenFd},
              {"pidFileFd", config.inheritedPidFileFd},
              {"dataLockFd", config.inheritedDataLockFd},
              {"restarts", config.restarts},
              {"socketGroup", config.socketGroup},
              {"defaultOnExit", config.defaultOnExit},
              {"metricsAddress", config.metricsAddress},
              {"maxLogSize", config.maxLogSize},
              {"maxLogFiles", config.maxLogFiles},
              {"webhookUrl", config.webhookUrl},
              {"webhookIncludeEnv", config.webhookIncludeEnv},
              {"writeHighWater", config.writeHighWater},
              {"stallTimeoutMs", config.stallTimeoutMs},
              {"httpHeaderTimeoutMs", config.httpHeaderTimeoutMs},
              {"maxReplyBytes", config.maxReplyBytes},
              {"backoffFirstMs", config.backoffFirstMs},
              {"noPidfd", config.noPidfd},
              {"noSubreaper", config.noSubreaper},
              {"format", 1}};
  return out.dump();
}

std::string decodeReexecConfig(const std::string& text, DaemonConfig& config) {
  try {
    json in = json::parse(text);
    Paths& p = config.paths;
    p.base = in.at("base");
    p.logFile = in.at("logFile");
    p.pidFile = in.at("pidFile");
    p.socket = in.at("socket");
    p.dataDir = in.at("dataDir");
    p.shipLogDir = in.at("shipLogDir");
    p.shipsDir = in.at("shipsDir");
    config.intervalSeconds = in.at("interval");
    config.foreground = in.at("foreground");
    config.selfExe = in.at("selfExe");
    config.inheritedListenFd = in.at("listenFd");
    config.inheritedPidFileFd = in.at("pidFileFd");
    // Fields added later are optional, so a newer binary can take over
    // from an older daemon during an upgrade.
    config.restarts = in.value("restarts", 1);
    config.inheritedDataLockFd = in.value("dataLockFd", -1);
    config.socketGroup = in.value("socketGroup", std::string());
    config.defaultOnExit = in.value("defaultOnExit", std::string());
    config.metricsAddress = in.value("metricsAddress", std::string());
    config.maxLogSize = in.value("maxLogSize", uint64_t{0});
    config.maxLogFiles = in.value("maxLogFiles", 5);
    config.webhookUrl = in.value("webhookUrl", std::string());
    config.webhookIncludeEnv = in.value("webhookIncludeEnv", false);
    config.writeHighWater = in.value("writeHighWater", config.writeHighWater);
    config.stallTimeoutMs = in.value("stallTimeoutMs", config.stallTimeoutMs);
    config.httpHeaderTimeoutMs = in.value("httpHeaderTimeoutMs", config.httpHeaderTimeoutMs);
    config.maxReplyBytes = in.value("maxReplyBytes", config.maxReplyBytes);
    config.backoffFirstMs = in.value("backoffFirstMs", config.backoffFirstMs);
    config.noPidfd = in.value("noPidfd", false);
    config.noSubreaper = in.value("noSubreaper", false);
    return "";
  } catch (const std::exception& e) {
    return e.what();
  }
}

}  // namespace keelan
