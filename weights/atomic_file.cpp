// Atomic writes by temporary file + rename(2) in the same folder (same filesystem).
#include "weights/atomic_file.h"

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

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)), tmp_(temp_name(path_)) {
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  SV_CHECK(fd_ >= 0, IoError, path_ + ": cannot create temporary file " + tmp_ + ": " + errno_text());
}

AtomicFile::~AtomicFile() {
  if (fd_ < 0) return;  // committed, or failed and cleaned up
  ::close(fd_);
  ::unlink(tmp_.c_str());
}

void AtomicFile::fail(const std::string& what) {
  const std::string msg = path_ + ": " + what + ": " + errno_text();
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  ::unlink(tmp_.c_str());
  throw IoError(msg);
}

void AtomicFile::write_at(uint64_t offset, const void* data, size_t size) {
  SV_CHECK(fd_ >= 0, IoError, path_ + ": write after commit or failure");
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::pwrite(fd_, p, size, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail("write failed");
    p += n;
    offset += static_cast<uint64_t>(n);
    size -= static_cast<size_t>(n);
  }
}

void AtomicFile::commit() {
  SV_CHECK(fd_ >= 0, IoError, path_ + ": committed twice or after a failure");
  if (::fsync(fd_) != 0 && errno != EINVAL) fail("fsync failed");
  const int rc = ::close(fd_);
  fd_ = -1;
  if (rc != 0) {
    ::unlink(tmp_.c_str());
    throw IoError(path_ + ": close failed: " + errno_text());
  }
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) {
    const std::string why = errno_text();
    ::unlink(tmp_.c_str());
    throw IoError(path_ + ": rename from " + tmp_ + " failed: " + why);
  }
}

void write_file_atomic(const std::string& path, const std::vector<ByteSpan>& parts) {
  AtomicFile f(path);
  uint64_t offset = 0;
  for (const ByteSpan& part : parts) {
    f.write_at(offset, part.data, part.size);
    offset += part.size;
  }
  f.commit();
}

}  // namespace sv
