// What the fuzz targets share: the input as a file, and the way a target reports a broken
// contract.
//
// InputFile serves the readers that take a path (safetensors, NPY, IDX, model). The bytes
// go into an anonymous in-memory file (memfd_create) that the reader opens by the name
// /proc/self/fd/N: a regular file to stat(), std::ifstream and zlib's gzopen alike; nothing
// touches the disk and nothing is left behind when a run crashes. Those readers keep their
// one entry point (the path), so the fuzzer runs the very code the CLI runs, file checks
// included (IDX reads through zlib's gz* file interface, which needs a file anyway). The
// CSV and image readers have a stream / bytes entry point and need no file.
#pragma once
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace sv::fuzz {

class InputFile {
 public:
  InputFile(const uint8_t* data, size_t size) {
    fd_ = memfd_create("sharedvis-fuzz-input", MFD_CLOEXEC);
    if (fd_ < 0) die("memfd_create");
    for (size_t done = 0; done < size;) {
      const ssize_t w = write(fd_, data + done, size - done);
      if (w <= 0) die("write");
      done += static_cast<size_t>(w);
    }
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  ~InputFile() { close(fd_); }
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;

  const std::string& path() const { return path_; }

 private:
  // A broken harness, not a finding: say so loudly (the abort still stops the run).
  [[noreturn]] static void die(const char* what) {
    std::perror((std::string("fuzz harness: ") + what).c_str());
    std::abort();
  }

  int fd_ = -1;
  std::string path_;
};

// Stops the run with a message when a reader breaks its own contract without crashing
// (for example: a header it accepted, whose data it then cannot read).
[[noreturn]] inline void contract_broken(const std::string& what) {
  std::fprintf(stderr, "fuzz: contract broken: %s\n", what.c_str());
  std::abort();
}

}  // namespace sv::fuzz
