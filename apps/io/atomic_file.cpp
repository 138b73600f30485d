// Atomic writes by temporary file + rename(2) in the same folder (same filesystem).
#include "apps/io/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "autodiff/error.h"

namespace sv {

namespace {

std::string errno_text() { return std::strerror(errno); }

std::string parent_dir(const std::string& path) {
  std::filesystem::path p = std::filesystem::path(path).parent_path();
  return p.empty() ? std::string(".") : p.string();
}

// A name no other writer uses: the final name, the process id and a counter.
std::string temp_name(const std::string& path) {
  static std::atomic<unsigned> counter{0};
  return path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
}

}  // namespace

void check_output_path(const std::string& path) {
  SV_CHECK(!path.empty(), IoError, "output path is empty");
  std::error_code ec;
  SV_CHECK(!std::filesystem::is_directory(path, ec), IoError, path + ": is a folder, expected a file name");
  const std::string dir = parent_dir(path);
  SV_CHECK(std::filesystem::is_directory(dir, ec), IoError, path + ": folder " + dir + " does not exist");
  SV_CHECK(::access(dir.c_str(), W_OK) == 0, IoError, path + ": folder " + dir + " is not writable");
}

void write_file_atomic(const std::string& path, const std::vector<ByteSpan>& parts) {
  const std::string tmp = temp_name(path);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  SV_CHECK(fd >= 0, IoError, path + ": cannot create temporary file " + tmp + ": " + errno_text());
  auto fail = [&](const std::string& what) {
    const std::string msg = path + ": " + what + ": " + errno_text();
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    throw IoError(msg);
  };
  for (const ByteSpan& part : parts) {
    const char* p = static_cast<const char*>(part.data);
    size_t left = part.size;
    while (left > 0) {
      ssize_t n = ::write(fd, p, left);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) fail("write failed");
      p += n;
      left -= static_cast<size_t>(n);
    }
  }
  if (::fsync(fd) != 0 && errno != EINVAL) fail("fsync failed");
  int rc = ::close(fd);
  fd = -1;
  if (rc != 0) fail("close failed");
  if (::rename(tmp.c_str(), path.c_str()) != 0) fail("rename from " + tmp + " failed");
}

}  // namespace sv
