// What documents and packages the CLI: the completion scripts (loaded in a
// real bash), the man page against every `--help`, and the packaged
// logrotate snippet run by the real logrotate.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>

#include "harness.h"

namespace keelan::test {
namespace {

class CliDocs : public KeelanTest {
 protected:
  // Runs `script` with bash (killed after 20 s); stdout and stderr together.
  Result bash(const std::string& script) {
    std::string file = base_ + "/script.sh";
    std::ofstream(file) << "export BASE_DIRECTORY='" << base_ << "'\nKEELAN='" << keelanBinary() << "'\n" << script;
    Result result;
    FILE* out = popen(("timeout 20 bash " + file + " 2>&1").c_str(), "r");
    if (out == nullptr) return result;
    char buffer[4096];
    for (size_t n; (n = fread(buffer, 1, sizeof buffer, out)) > 0;) result.out.append(buffer, n);
    int status = pclose(out);
    result.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return result;
  }
  // The words bash completes after `keelan WORDS...` (the last one is the word being typed).
  std::string completions(const std::string& words) {
    Result r = bash("source <(\"$KEELAN\" completion bash) || exit 9\n"
                    "COMP_WORDS=(\"$KEELAN\" " + words + ")\nCOMP_CWORD=$((${#COMP_WORDS[@]} - 1))\n"
                    "_keelan\nfor word in \"${COMPREPLY[@]}\"; do echo \"$word\"; done\n");
    EXPECT_EQ(r.code, 0) << r.out;
    return r.out;
  }
};

bool hasLine(const std::string& text, const std::string& line) {
  return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

TEST_F(CliDocs, CompletionScriptsLoadInBashAndOfferShipNames) {
  // No daemon: no ship names, and not a word of complaint.
  Result quiet = keelan({"completion", "--ships"});
  EXPECT_EQ(quiet.code, 0);
  EXPECT_EQ(quiet.out + quiet.err, "");
  startDaemon();
  makeRoot();
  ASSERT_EQ(deploySh("alpha", "exec sleep 1000").code, 0);
  ASSERT_EQ(deploySh("beta", "exit 0").code, 0);

  std::string top = completions("\"\"");
  for (const char* word : {"deploy", "restart", "kill", "reload", "completion", "daemon", "logs"})
    EXPECT_TRUE(hasLine(top, word)) << word << " in:\n" << top;
  std::string ships = completions("stop \"\"");
  EXPECT_TRUE(hasLine(ships, "alpha")) << ships;
  EXPECT_TRUE(hasLine(ships, "beta")) << ships;
  EXPECT_EQ(completions("restart al"), "alpha\n");
  std::string flags = completions("deploy web --max-log");
  EXPECT_TRUE(hasLine(flags, "--max-log-size")) << flags;
  EXPECT_TRUE(hasLine(flags, "--max-log-files")) << flags;
  std::string nested = completions("daemon start --webhook");
  EXPECT_TRUE(hasLine(nested, "--webhook-on")) << nested;
  EXPECT_TRUE(hasLine(completions("daemon st"), "start"));
  EXPECT_EQ(completions("deploy web -- /bin/sh \"\""), "") << "after --: the ship's own command";

  Result zsh = keelan({"completion", "zsh"});
  EXPECT_EQ(zsh.code, 0);
  EXPECT_EQ(zsh.out.rfind("#compdef keelan\n", 0), 0u);
  Result fish = keelan({"completion", "fish"});
  EXPECT_EQ(fish.code, 0);
  EXPECT_NE(fish.out.find("complete -c keelan -n '__fish_seen_subcommand_from restart' -a '(keelan completion --ships"),
            std::string::npos);
  EXPECT_EQ(keelan({"completion", "tcsh"}).code, 2);
  EXPECT_EQ(keelan({"completion"}).code, 2);
}

// The long options a `--help` lists, and its subcommands.
struct HelpPage {
  std::vector<std::string> options, subcommands;
};

HelpPage parseHelp(const std::string& text) {
  HelpPage page;
  std::istringstream in(text);
  std::string section;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line[0] != ' ') {
      section = line;
      continue;
    }
    size_t start = line.find_first_not_of(' ');
    if (start == std::string::npos || start > 2) continue;  // a wrapped description
    std::string first = line.substr(start, line.find(' ', start) - start);
    if (section.rfind("Subcommands:", 0) == 0) page.subcommands.push_back(first);
    if (section.rfind("Options:", 0) != 0) continue;
    std::istringstream names(first);
    for (std::string name; std::getline(names, name, ',');)
      if (name.rfind("--", 0) == 0) page.options.push_back(name);
  }
  return page;
}

// The man page's text with roff's escapes for '-' and fonts undone, and the
// body of each `.SS "keelan PATH"` section.
struct ManPage {
  std::string text;
  std::map<std::string, std::string> sections;
};

ManPage readManPage(const std::string& path) {
  std::string roff = readFile(path);
  ManPage page;
  page.text = std::regex_replace(std::regex_replace(roff, std::regex(R"(\\-)"), "-"), std::regex(R"(\\f[BIRP])"), "");
  std::istringstream in(page.text);
  std::string current;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(".SS \"keelan ", 0) == 0) {
      current = line.substr(12, line.size() - 13);
      page.sections[current];
      continue;
    }
    if (line.rfind(".SH", 0) == 0) current.clear();
    if (!current.empty()) page.sections[current] += line + "\n";
  }
  return page;
}

bool mentions(const std::string& text, const std::string& option) {
  return std::regex_search(text, std::regex("(^|[^a-z0-9-])" + option + "($|[^a-z0-9-])"));
}

TEST_F(CliDocs, TheManPageHasEverySubcommandAndEveryOptionOfItsHelp) {
  ManPage man = readManPage(std::string(KEELAN_SOURCE_DIR) + "/packaging/keelan.1");
  ASSERT_FALSE(man.sections.empty());
  std::vector<std::string> missing;
  std::vector<std::string> queue = {""};
  size_t commands = 0;
  while (!queue.empty()) {
    std::string path = queue.back();
    queue.pop_back();
    std::vector<std::string> args;
    std::istringstream words(path);
    for (std::string word; words >> word;) args.push_back(word);
    args.push_back("--help");
    Result help = keelan(args);
    ASSERT_EQ(help.code, 0) << path << ": " << help.err;
    HelpPage page = parseHelp(help.out);
    ++commands;
    for (const auto& sub : page.subcommands) queue.push_back(path.empty() ? sub : path + " " + sub);
    if (path.empty()) {
      for (const auto& option : page.options)
        if (!mentions(man.text, option)) missing.push_back("keelan " + option);
      continue;
    }
    if (!page.subcommands.empty()) continue;  // `daemon`, `store`: their subcommands have the sections
    auto section = man.sections.find(path);
    if (section == man.sections.end()) {
      missing.push_back("section .SS \"keelan " + path + "\"");
      continue;
    }
    for (const auto& option : page.options)
      if (option != "--help" && !mentions(section->second, option)) missing.push_back("keelan " + path + " " + option);
  }
  EXPECT_GT(commands, 15u);
  std::string list;
  for (const auto& m : missing) list += "  " + m + "\n";
  EXPECT_TRUE(missing.empty()) << "missing from packaging/keelan.1:\n" << list;
}

// logrotate, as packaged, on a copy of the base directory's logs: the
// daemon's log is rotated; ship logs, which the daemon rotates itself into
// NAME.out.log.1, .2 ..., are left alone, so no file is written by both.
TEST_F(CliDocs, LogrotateRotatesOnlyTheDaemonsOwnLog) {
  if (access("/usr/sbin/logrotate", X_OK) != 0) GTEST_SKIP() << "logrotate is not installed";
  std::string snippet = readFile(std::string(KEELAN_SOURCE_DIR) + "/packaging/keelan.logrotate");
  ASSERT_FALSE(snippet.empty());
  std::string config = base_ + "/logrotate.conf";
  std::ofstream(config) << std::regex_replace(snippet, std::regex("/var/lib/keelan"), base_);
  chmod(config.c_str(), 0644);
  mkdir((base_ + "/logs").c_str(), 0755);
  mkdir((base_ + "/logs/ships").c_str(), 0755);
  std::string logs = base_ + "/logs/";
  std::ofstream(logs + "monitor-daemon.log") << "daemon line\n";
  std::ofstream(logs + "ships/web.out.log") << "live output\n";
  std::ofstream(logs + "ships/web.out.log.1") << "rotated by the daemon\n";
  std::ofstream(logs + "ships/web.err.log") << "errors\n";
  Result rotated = bash("/usr/sbin/logrotate -f -s '" + base_ + "/logrotate.state' '" + config + "'\n");
  ASSERT_EQ(rotated.code, 0) << rotated.out;
  EXPECT_EQ(readFile(logs + "monitor-daemon.log.1"), "daemon line\n");
  EXPECT_EQ(readFile(logs + "ships/web.out.log"), "live output\n");
  EXPECT_EQ(readFile(logs + "ships/web.out.log.1"), "rotated by the daemon\n");
  EXPECT_EQ(readFile(logs + "ships/web.err.log"), "errors\n");
  for (const char* stray : {"ships/web.out.log.2", "ships/web.err.log.1", "ships/web.out.log.1.gz"})
    EXPECT_NE(access((logs + stray).c_str(), F_OK), 0) << stray;
}

}  // namespace
}  // namespace keelan::test
