#include "mount/mount_fixture.h"

#include <fcntl.h>

#include <cstdlib>
#include <regex>

namespace netfs::testing {

RunResult run(const std::vector<std::string>& argv) {
  int p[2];
  RunResult r;
  if (pipe(p) != 0) return r;
  pid_t pid = fork();
  if (pid == 0) {
    dup2(p[1], 1);
    dup2(p[1], 2);
    close(p[0]);
    close(p[1]);
    std::vector<char*> a;
    for (auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
    a.push_back(nullptr);
    execvp(a[0], a.data());
    _exit(127);
  }
  close(p[1]);
  char buf[4096];
  ssize_t n;
  while ((n = read(p[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
    if (n > 0) r.output.append(buf, static_cast<size_t>(n));
  close(p[0]);
  int st = 0;
  waitpid(pid, &st, 0);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

RunResult sh(const std::string& cmd) { return run({"/bin/sh", "-c", cmd}); }

void MountFixture::SetUp() {
  diod_ = std::make_unique<DiodServer>();
  ASSERT_TRUE(diod_->start()) << diod_->error();
  char tmpl[] = "/tmp/netfs-mnt-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  work_ = tmpl;
  mnt_ = work_ + "/mnt";
  std::filesystem::create_directory(mnt_);
}

void MountFixture::TearDown() {
  if (mounted_) {
    auto r = netfs({"umount", mnt_});
    if (r.status != 0) run({"fusermount3", "-u", "-z", mnt_});
  }
  diod_.reset();  // stops diod by PID, removes the export
  std::error_code ec;
  std::filesystem::remove_all(work_, ec);
}

std::string MountFixture::url() const { return "9p://127.0.0.1:" + std::to_string(diod_->port()) + diod_->dir(); }

RunResult MountFixture::netfs(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {NETFS_BIN};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv);
}

bool MountFixture::mount(const std::string& opts, std::string* out) {
  std::vector<std::string> args = {"mount", url(), mnt_, "-o", "log=" + work_ + "/netfs.log"};
  if (!opts.empty()) args.insert(args.end(), {"-o", opts});
  auto r = netfs(args);
  if (out) *out = r.output;
  mounted_ = r.status == 0;
  return mounted_;
}

uint64_t MountFixture::stat(const std::string& key) {
  auto r = netfs({"stats", "--json", mnt_});
  std::smatch m;
  std::regex re("\"" + key + "\":([0-9]+)");
  if (!std::regex_search(r.output, m, re)) {
    ADD_FAILURE() << "no " << key << " in " << r.output;
    return 0;
  }
  return std::strtoull(m[1].str().c_str(), nullptr, 10);
}

}  // namespace netfs::testing
