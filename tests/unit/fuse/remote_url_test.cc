#include "fuse/remote_url.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

namespace netfs::fuse {
namespace {

TEST(RemoteUrl, Tcp) {
  std::string why;
  auto r = parse_remote_url("9p://127.0.0.1:5640/srv/export", &why);
  ASSERT_TRUE(r.ok()) << why;
  EXPECT_EQ(r->endpoint.host, "127.0.0.1");
  EXPECT_EQ(r->endpoint.port, 5640);
  EXPECT_EQ(r->export_path, "/srv/export");
  EXPECT_EQ(r->to_string(), "9p://127.0.0.1:5640/srv/export");
  r = parse_remote_url("9p://[::1]/x", &why);
  ASSERT_TRUE(r.ok()) << why;
  EXPECT_EQ(r->endpoint.host, "::1");
  EXPECT_EQ(r->endpoint.port, 564);
  for (const char* bad : {"http://x/y", "9p://", "9p://h:0/x", "9p://h:70000/x", "9p://h:p/x", "9p://[::1/x"})
    EXPECT_FALSE(parse_remote_url(bad, &why).ok()) << bad;
}

// USER@ is the attach name, as sshfs's user@host: it used to become part of the host.
TEST(RemoteUrl, UserBeforeTheHostIsTheAttachName) {
  std::string why;
  auto r = parse_remote_url("9p://alice@server.example:5640/srv/export", &why);
  ASSERT_TRUE(r.ok()) << why;
  EXPECT_EQ(r->user, "alice");
  EXPECT_EQ(r->endpoint.host, "server.example");
  EXPECT_EQ(r->endpoint.port, 5640);
  EXPECT_EQ(r->to_string(), "9p://alice@server.example:5640/srv/export");
  r = parse_remote_url("9p://bob@[::1]/x", &why);
  ASSERT_TRUE(r.ok()) << why;
  EXPECT_EQ(r->user, "bob");
  EXPECT_EQ(r->endpoint.host, "::1");
  r = parse_remote_url("9p://h/x", &why);
  ASSERT_TRUE(r.ok()) << why;
  EXPECT_EQ(r->user, "");
  EXPECT_FALSE(parse_remote_url("9p://@h/x", &why).ok());
  EXPECT_FALSE(parse_remote_url("9p://u@/x", &why).ok());
}

TEST(RemoteUrl, UnixSocketIsTheLongestSocketPrefix) {
  char dir[] = "/tmp/netfs-url-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string sock = std::string(dir) + "/diod.sock";
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path, sock.c_str(), sock.size());
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  std::string why;
  auto r = parse_remote_url("9p+unix://" + sock + "/srv/export", &why);
  ASSERT_TRUE(r.ok()) << why;
  EXPECT_EQ(r->endpoint.path, sock);
  EXPECT_EQ(r->export_path, "/srv/export");
  EXPECT_FALSE(parse_remote_url("9p+unix://" + std::string(dir) + "/nosock/x", &why).ok());
  close(fd);
  unlink(sock.c_str());
  rmdir(dir);
}

// The URL becomes the fsname= mount option: a ',' would end it and start options of the
// URL's choosing (allow_other without default_permissions), a '\\' would escape one.
TEST(RemoteUrl, RefusesCharactersThatWouldInjectMountOptions) {
  std::string why;
  EXPECT_FALSE(parse_remote_url("9p://a,allow_other,fsname=x@host/e", &why).ok());
  EXPECT_NE(why.find("','"), std::string::npos) << why;
  EXPECT_FALSE(parse_remote_url("9p://host/e,allow_other", &why).ok());
  EXPECT_FALSE(parse_remote_url("9p://u\\@host/e", &why).ok());
  EXPECT_FALSE(parse_remote_url("9p+unix:///run/x,allow_other/e", &why).ok());
  EXPECT_TRUE(parse_remote_url("9p://u@host/e", &why).ok()) << why;
}

}  // namespace
}  // namespace netfs::fuse
