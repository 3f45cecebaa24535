// The manual page netfs(1) that the build writes (`netfs --man`): it names every option
// that `netfs --help` and each subcommand's `--help` list, so the page cannot fall behind
// the command line (the mount options are checked against their table by
// Install.DestdirAndPrefixHoldEverythingAndTheHelperLinkIsRelative).
#include <gtest/gtest.h>

#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "mount/mount_fixture.h"

namespace netfs::testing {
namespace {

// The option names of a CLI11 --help: "  -n,--no-follow   text" gives -n and --no-follow.
std::vector<std::string> options_of(const std::string& help) {
  std::vector<std::string> out;
  std::istringstream in(help);
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with("  -")) continue;
    std::string names = line.substr(2, line.find(' ', 2) - 2);
    std::istringstream parts(names);
    for (std::string n; std::getline(parts, n, ',');) out.push_back(n);
  }
  return out;
}

TEST(ManPage, ListsEveryOptionOfEveryHelp) {
  // C locale: minus signs come out as ASCII '-', as --help prints them.
  auto man = sh("MANWIDTH=200 LC_ALL=C man -l " NETFS_MAN_PAGE " 2>&1");
  ASSERT_EQ(man.status, 0) << man.output;
  EXPECT_EQ(man.output.find("warning"), std::string::npos) << man.output;
  ASSERT_NE(man.output.find("NETFS(1)"), std::string::npos) << man.output;
  int checked = 0;
  for (std::vector<std::string> args : {std::vector<std::string>{}, {"mount"}, {"umount"}, {"stats"}, {"trace"},
                                        {"cache"}}) {
    std::vector<std::string> argv{NETFS_BIN};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back("--help");
    auto help = run(argv);
    ASSERT_EQ(help.status, 0) << help.output;
    for (const std::string& opt : options_of(help.output)) {
      if (opt == "-h" || opt == "--help") continue;  // every command has it
      // As a word of its own: "--json" must not be found inside "--jsonl".
      std::regex word("(^|[^a-z-])" + opt + "([^a-z-]|$)");
      EXPECT_TRUE(std::regex_search(man.output, word))
          << opt << " (netfs " << (args.empty() ? "" : args[0]) << " --help) is not in netfs(1)";
      checked++;
    }
  }
  EXPECT_GE(checked, 12);
}

}  // namespace
}  // namespace netfs::testing
