// net/listener.h: listener addresses (TCP and Unix) and the Unix socket file's life: its mode,
// a stale file replaced, a live or foreign one refused, and removal only of the file this
// process created.
#include "net/listener.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <string>
#include <vector>

#include "temp_dir.h"

namespace {

using jwtgate::net::FormatSocketAddress;
using jwtgate::net::IsLoopback;
using jwtgate::net::OpenListeners;
using jwtgate::net::ParseSocketAddress;
using jwtgate::net::RemoveUnixSocketFile;
using jwtgate::net::SocketAddress;
using jwtgate::net::StatUnixSocketFile;
using jwtgate::test::TempDir;

SocketAddress Parse(const std::string& text) {
  SocketAddress a;
  std::string error;
  INFO(text << ": " << error);
  REQUIRE(ParseSocketAddress(text, &a, &error));
  return a;
}

bool Exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

unsigned ModeOf(const std::string& path) {
  struct stat st;
  REQUIRE(::lstat(path.c_str(), &st) == 0);
  REQUIRE(S_ISSOCK(st.st_mode));
  return st.st_mode & 07777;
}

// Connects to the Unix socket at `path`: true when something accepts.
bool CanConnect(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  path.copy(sa.sun_path, sizeof sa.sun_path - 1);
  const bool ok = ::connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) == 0;
  ::close(fd);
  return ok;
}

void CloseAll(std::vector<int>* fds) {
  for (int fd : *fds) ::close(fd);
  fds->clear();
}

}  // namespace

TEST_CASE("listener: unix: addresses parse, print and count as local", "[listener]") {
  const SocketAddress a = Parse("unix:/run/jwtgate/auth.sock");
  CHECK(a.storage.ss_family == AF_UNIX);
  CHECK(jwtgate::net::IsUnix(a));
  CHECK(FormatSocketAddress(a) == "unix:/run/jwtgate/auth.sock");
  CHECK(IsLoopback(a));
  CHECK_FALSE(IsLoopback(Parse("0.0.0.0:9090")));
  CHECK(FormatSocketAddress(Parse("[::1]:9090")) == "[::1]:9090");

  // The longest path sun_path holds (107 bytes and its terminator), and one byte more.
  const std::string longest = "/" + std::string(106, 'a');
  CHECK(FormatSocketAddress(Parse("unix:" + longest)) == "unix:" + longest);
  struct Bad {
    std::string text;
    const char* message;
  };
  const Bad bad[] = {
      {"unix:" + longest + "a", "Unix socket path longer than 107 bytes"},
      {"unix:", "expected unix:/ABSOLUTE/PATH"},
      {"unix:run/auth.sock", "expected unix:/ABSOLUTE/PATH"},
      {"unix:@jwtgate", "abstract Unix sockets are refused"},
      {std::string("unix:/run/a\0b", 13), "NUL byte in Unix socket path"},
  };
  for (const Bad& b : bad) {
    INFO(b.text);
    SocketAddress out;
    std::string error;
    CHECK_FALSE(ParseSocketAddress(b.text, &out, &error));
    CHECK_THAT(error, Catch::Matchers::Contains(b.message));
  }
}

TEST_CASE("listener: a Unix listener gets its mode, and one socket serves every I/O thread",
          "[listener]") {
  const TempDir dir("jwtgate-listener");
  const std::string path = dir.path() + "/auth.sock";
  const SocketAddress addr = Parse("unix:" + path);
  // A restrictive umask must not narrow the mode asked for, nor a permissive one widen it.
  const mode_t old_umask = ::umask(077);
  std::vector<int> fds;
  SocketAddress bound;
  std::string error;
  const bool opened = OpenListeners(addr, 3, 16, &fds, &bound, &error, 0666);
  ::umask(old_umask);
  INFO(error);
  REQUIRE(opened);
  CHECK(fds.size() == 3);
  CHECK(FormatSocketAddress(bound) == "unix:" + path);
  CHECK(ModeOf(path) == 0666);
  CHECK(CanConnect(path));
  CloseAll(&fds);

  const std::string admin = dir.path() + "/admin.sock";
  ::umask(0);
  const bool admin_opened =
      OpenListeners(Parse("unix:" + admin), 1, 16, &fds, &bound, &error, 0660);
  ::umask(old_umask);
  REQUIRE(admin_opened);
  CHECK(ModeOf(admin) == 0660);
  CloseAll(&fds);
}

TEST_CASE("listener: a stale socket file is replaced; a live one or another file is refused",
          "[listener]") {
  const TempDir dir("jwtgate-listener");
  const std::string path = dir.path() + "/auth.sock";
  const SocketAddress addr = Parse("unix:" + path);
  std::vector<int> first, second;
  SocketAddress bound;
  std::string error;
  REQUIRE(OpenListeners(addr, 1, 16, &first, &bound, &error));

  SECTION("in use") {
    CHECK_FALSE(OpenListeners(addr, 1, 16, &second, &bound, &error));
    CHECK_THAT(error, Catch::Matchers::Contains(path + " is in use"));
    CHECK(second.empty());
    CHECK(CanConnect(path));  // the first listener's file is untouched
    CloseAll(&first);
  }
  SECTION("stale: left by a listener that is gone") {
    CloseAll(&first);
    REQUIRE(Exists(path));
    CHECK_FALSE(CanConnect(path));
    INFO(error);
    REQUIRE(OpenListeners(addr, 1, 16, &second, &bound, &error));
    CHECK(CanConnect(path));
    CloseAll(&second);
  }
  SECTION("not a socket") {
    CloseAll(&first);
    ::unlink(path.c_str());
    std::ofstream(path) << "keep me\n";
    CHECK_FALSE(OpenListeners(addr, 1, 16, &second, &bound, &error));
    CHECK_THAT(error, Catch::Matchers::Contains(path + " exists and is not a socket"));
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);
    CHECK(line == "keep me");
  }
  SECTION("no directory") {
    CloseAll(&first);
    const SocketAddress nowhere = Parse("unix:" + dir.path() + "/absent/auth.sock");
    CHECK_FALSE(OpenListeners(nowhere, 1, 16, &second, &bound, &error));
    CHECK_THAT(error, Catch::Matchers::Contains("bind unix:" + dir.path() + "/absent/auth.sock"));
  }
}

TEST_CASE("listener: a socket this user cannot probe is neither replaced nor removed",
          "[listener]") {
  // Needs a second user: root makes the socket, nobody (65534) tries to take its path.
  if (::geteuid() != 0) {
    WARN("not root: cannot switch to another user; the EACCES case is not exercised");
    return;
  }
  const TempDir dir("jwtgate-listener", 0777);  // nobody may create and remove files here
  const std::string path = dir.path() + "/auth.sock";
  const SocketAddress addr = Parse("unix:" + path);
  std::vector<int> fds;
  SocketAddress bound;
  std::string error;
  REQUIRE(OpenListeners(addr, 1, 16, &fds, &bound, &error, 0600));  // live, root's alone
  const jwtgate::net::UnixSocketFile file = StatUnixSocketFile(bound);
  int pipe_fds[2];
  REQUIRE(::pipe(pipe_fds) == 0);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // As nobody: connect() gets EACCES, which says nothing about whether the socket is live.
    ::close(pipe_fds[0]);
    int code = 10;
    if (::setgid(65534) == 0 && ::setuid(65534) == 0) {
      std::vector<int> theirs;
      SocketAddress b;
      std::string e;
      code = OpenListeners(addr, 1, 16, &theirs, &b, &e) ? 11 : 0;
      if (code == 0 && e.find("cannot tell whether " + path + " is in use") == std::string::npos) {
        code = 12;
      }
      RemoveUnixSocketFile(file);  // not this process's to remove either
    }
    (void)::write(pipe_fds[1], &code, sizeof code);
    ::_exit(0);
  }
  ::close(pipe_fds[1]);
  int code = -1;
  CHECK(::read(pipe_fds[0], &code, sizeof code) == static_cast<ssize_t>(sizeof code));
  ::close(pipe_fds[0]);
  int wstatus = 0;
  REQUIRE(::waitpid(child, &wstatus, 0) == child);
  CHECK(code == 0);  // 10: could not switch user; 11: took the path; 12: another message
  CHECK(CanConnect(path));  // root's socket is still there, still accepting
  CloseAll(&fds);
}

TEST_CASE("listener: shutdown removes only the socket file it created", "[listener]") {
  const TempDir dir("jwtgate-listener");
  const std::string path = dir.path() + "/auth.sock";
  const SocketAddress addr = Parse("unix:" + path);
  std::vector<int> old_fds, new_fds;
  SocketAddress bound;
  std::string error;
  REQUIRE(OpenListeners(addr, 1, 16, &old_fds, &bound, &error));
  const jwtgate::net::UnixSocketFile old_file = StatUnixSocketFile(bound);
  CHECK(old_file.path == path);
  // The old process drains (its listener closed); a successor takes the path meanwhile.
  CloseAll(&old_fds);
  REQUIRE(OpenListeners(addr, 1, 16, &new_fds, &bound, &error));
  const jwtgate::net::UnixSocketFile new_file = StatUnixSocketFile(bound);
  RemoveUnixSocketFile(old_file);  // the old process's shutdown
  CHECK(CanConnect(path));         // the successor's socket is still there
  CloseAll(&new_fds);
  RemoveUnixSocketFile(new_file);
  CHECK_FALSE(Exists(path));

  // TCP listeners have no file.
  CHECK(StatUnixSocketFile(Parse("127.0.0.1:9090")).path.empty());
}
