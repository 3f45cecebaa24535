// The scheme table of the netfs tool (tools/netfs/schemes.h): every URL the mount accepts
// has one entry, and the help text comes from the table.
#include "tools/netfs/schemes.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "fuse/remote_url.h"

namespace netfs::cli {
namespace {

TEST(Schemes, EveryUrlTheMountParsesHasItsEntry) {
  std::string why;
  auto tcp = fuse::parse_remote_url("9p://alice@127.0.0.1:5640/srv/export", &why);
  ASSERT_TRUE(tcp.ok()) << why;
  const Scheme* s = scheme_of(tcp->to_string());
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->prefix, "9p://");

  char dir[] = "/tmp/netfs-schemes-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string sock = std::string(dir) + "/diod.sock";
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::strncpy(sa.sun_path, sock.c_str(), sizeof sa.sun_path - 1);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  auto unix_url = fuse::parse_remote_url("9p+unix://" + sock + "/srv/export", &why);
  ::close(fd);
  ::unlink(sock.c_str());
  ::rmdir(dir);
  ASSERT_TRUE(unix_url.ok()) << why;
  s = scheme_of(unix_url->to_string());
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->prefix, "9p+unix://");
}

TEST(Schemes, AnUnknownSchemeHasNoEntry) {
  EXPECT_EQ(scheme_of("s3://bucket/prefix"), nullptr);
  EXPECT_EQ(scheme_of("9p:/missing-slash"), nullptr);
  EXPECT_EQ(scheme_of(""), nullptr);
}

// `netfs mount --help` names the URL forms from the table, in its order.
TEST(Schemes, TheHelpTextListsEveryFormOnce) {
  std::string forms = scheme_forms();
  for (const Scheme& s : schemes()) {
    size_t at = forms.find(s.form);
    ASSERT_NE(at, std::string::npos) << s.form;
    EXPECT_EQ(forms.find(s.form, at + 1), std::string::npos) << s.form;
    EXPECT_NE(s.connect, nullptr) << s.prefix;
  }
  EXPECT_EQ(forms, "9p://[USER@]HOST[:PORT]/EXPORT or 9p+unix:///SOCKET/EXPORT");
}

}  // namespace
}  // namespace netfs::cli
