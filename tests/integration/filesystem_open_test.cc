// Filesystem driven directly over a real diod, without a kernel: open paths the kernel
// takes too rarely to test through a mount, such as a create of a name that exists (the
// file was made elsewhere between the kernel's negative lookup and its create).
#include <gtest/gtest.h>

#include <fcntl.h>

#include <fstream>
#include <string>

#include "fuse/filesystem.h"
#include "integration/diod_server.h"
#include "tools/netfs/mount_wiring.h"

namespace netfs::testing {
namespace {

using fuse::Filesystem;

std::string server_file(const DiodServer& d, const std::string& rel) {
  std::ifstream in(d.dir() + "/" + rel, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

// O_TRUNC on a create that finds the file (and a node of ours with unwritten data in
// it): Tlcreate cuts the server's file, and our dirty data must go too, or its write-back
// brings the old length back. It did: create dropped O_TRUNC before opening the node.
TEST(FilesystemOpen, OTruncOnACreateOfAKnownFileCutsOurUnwrittenDataToo) {
  DiodServer d;
  ASSERT_TRUE(d.start()) << d.error();
  std::ofstream(d.dir() + "/f", std::ios::binary) << std::string(100000, 'o');
  std::string why;
  auto url = fuse::parse_remote_url("9p://127.0.0.1:" + std::to_string(d.port()) + d.dir(), &why);
  ASSERT_TRUE(url.ok()) << why;
  auto fs = cli::build_mount(*url, fuse::MountOptions{}, &why);
  ASSERT_TRUE(fs.ok()) << why;
  const uint64_t root = fuse::InodeTable::kRootIno;
  auto e = (*fs)->lookup(root, "f");
  ASSERT_TRUE(e.ok()) << e.error().message();
  auto first = (*fs)->open(e->ino, O_WRONLY);
  ASSERT_TRUE(first.ok()) << first.error().message();
  const std::string tail(50000, 'w');
  auto w = (*fs)->write(*first->fh, 100000, tail.data(), tail.size());  // dirty, not written back
  ASSERT_TRUE(w.ok());
  auto c = (*fs)->create(root, "f", 0644, O_CREAT | O_WRONLY | O_TRUNC, fuse::Caller{});
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->first.ino, e->ino);
  EXPECT_EQ(c->first.attr.st_size, 0);
  auto w2 = (*fs)->write(*c->second.fh, 0, "new", 3);
  ASSERT_TRUE(w2.ok());
  EXPECT_TRUE((*fs)->flush(*c->second.fh, 1).ok());
  EXPECT_TRUE((*fs)->flush(*first->fh, 2).ok());
  (*fs)->release(c->second.fh);
  (*fs)->release(first->fh);
  std::string got = server_file(d, "f");
  EXPECT_TRUE(got == "new") << got.size() << " bytes on the server, starting \"" << got.substr(0, 8) << "\"";
  (*fs)->forget(e->ino, 2);
}

}  // namespace
}  // namespace netfs::testing
