// IDX reading through zlib's gz* interface (transparent for uncompressed files); writing
// through weights/atomic_file.h, gzip-compressed in memory first when asked.
#include "apps/io/idx.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>

#include "autodiff/error.h"
#include "apps/io/input_file.h"
#include "weights/atomic_file.h"

namespace sv {

namespace {
constexpr uint8_t kIdxUbyte = 0x08;
constexpr int64_t kReadChunk = int64_t{16} << 20;  // bytes added to the buffer per read

struct GzCloser {
  void operator()(gzFile_s* f) const { gzclose(f); }
};
using GzFile = std::unique_ptr<gzFile_s, GzCloser>;

[[noreturn]] void fail(const std::string& path, const std::string& what) { throw IoError(path + ": " + what); }

std::string gz_message(gzFile f) {
  int code = 0;
  const char* msg = gzerror(f, &code);
  if (code == Z_ERRNO) return std::strerror(errno);
  return msg ? msg : "unknown zlib error";
}

// bytes as one gzip member (zlib's deflate with a gzip wrapper: window bits 15 + 16).
std::vector<uint8_t> gzip_bytes(const std::vector<uint8_t>& bytes, const std::string& path) {
  if (bytes.size() > 0xffffffffu) fail(path, "too large to gzip in one piece (over 4 GiB)");
  z_stream zs{};
  if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    fail(path, "cannot start gzip compression");
  std::vector<uint8_t> out(deflateBound(&zs, static_cast<uLong>(bytes.size())));
  zs.next_in = const_cast<Bytef*>(bytes.data());
  zs.avail_in = static_cast<uInt>(bytes.size());
  zs.next_out = out.data();
  zs.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) fail(path, "gzip compression failed");
  return out;
}

// Reads exactly n bytes or explains why not. Returns the count read (< n: end of file).
int64_t read_bytes(gzFile f, const std::string& path, uint8_t* dst, int64_t n) {
  int64_t got = 0;
  while (got < n) {
    const unsigned chunk = static_cast<unsigned>(std::min<int64_t>(n - got, int64_t{1} << 30));
    const int r = gzread(f, dst + got, chunk);
    if (r < 0) fail(path, "corrupt or unreadable data (" + gz_message(f) + ")");
    if (r == 0) break;
    got += r;
  }
  return got;
}
}  // namespace

IdxArray read_idx(const std::string& path, int64_t max_bytes) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) fail(path, "no such file");
  check_input_file(path);
  GzFile f(gzopen(path.c_str(), "rb"));
  if (!f) fail(path, std::string("cannot open (") + std::strerror(errno) + ")");

  uint8_t magic[4];
  if (read_bytes(f.get(), path, magic, 4) != 4) fail(path, "truncated: shorter than the 4-byte IDX magic");
  if (magic[0] != 0 || magic[1] != 0)
    fail(path, "bad magic: not an IDX file (first bytes " + std::to_string(magic[0]) + " " +
                   std::to_string(magic[1]) + ", expected 0 0)");
  if (magic[2] != kIdxUbyte)
    fail(path, "unsupported IDX dtype 0x" + std::string(1, "0123456789abcdef"[magic[2] >> 4]) +
                   std::string(1, "0123456789abcdef"[magic[2] & 15]) + " (only unsigned byte, 0x08, is read)");
  const int ndim = magic[3];
  if (ndim < 1) fail(path, "IDX header declares 0 dimensions");

  IdxArray out;
  int64_t total = 1;
  for (int i = 0; i < ndim; ++i) {
    uint8_t b[4];
    if (read_bytes(f.get(), path, b, 4) != 4) fail(path, "truncated in the dimension list");
    const int64_t d = (int64_t{b[0]} << 24) | (int64_t{b[1]} << 16) | (int64_t{b[2]} << 8) | int64_t{b[3]};
    if (d > 0 && total > max_bytes / d)
      fail(path, "header claims more than " + std::to_string(max_bytes) + " elements");
    total *= d;
    out.dims.push_back(d);
  }

  // The buffer grows with the data that arrives, a chunk at a time, never to what the
  // header merely claims: a 12-byte file declaring 2^31 elements must not allocate 2 GB.
  int64_t got = 0;
  while (got < total) {
    const int64_t step = std::min(total - got, kReadChunk);
    out.data.resize(static_cast<size_t>(got + step));
    const int64_t r = read_bytes(f.get(), path, out.data.data() + got, step);
    got += r;
    if (r < step) break;
  }
  if (got != total)
    fail(path, "truncated: header declares " + std::to_string(total) + " bytes of data, file holds " +
                   std::to_string(got));
  uint8_t extra;
  if (read_bytes(f.get(), path, &extra, 1) != 0)
    fail(path, "trailing bytes after the " + std::to_string(total) + " declared by the header");
  int code = Z_OK;
  gzerror(f.get(), &code);
  if (code != Z_OK) fail(path, "corrupt gzip stream (" + gz_message(f.get()) + ")");
  return out;
}

void write_idx(const std::string& path, const std::vector<int64_t>& dims, const std::vector<uint8_t>& data,
               bool gzip) {
  SV_CHECK(!dims.empty() && dims.size() < 256, ValueError, "write_idx: " + path + ": need 1 to 255 dimensions");
  int64_t total = 1;
  for (int64_t d : dims) {
    SV_CHECK(d >= 0 && d <= 0xffffffffLL, ValueError, "write_idx: " + path + ": dimension out of range");
    total *= d;
  }
  SV_CHECK(static_cast<int64_t>(data.size()) == total, ValueError,
           "write_idx: " + path + ": " + std::to_string(data.size()) + " bytes for dims of " + std::to_string(total));

  std::vector<uint8_t> bytes{0, 0, kIdxUbyte, static_cast<uint8_t>(dims.size())};
  for (int64_t d : dims)
    for (int s = 24; s >= 0; s -= 8) bytes.push_back(static_cast<uint8_t>((d >> s) & 0xff));
  bytes.insert(bytes.end(), data.begin(), data.end());
  if (gzip) bytes = gzip_bytes(bytes, path);

  write_file_atomic(path, {ByteSpan{bytes.data(), bytes.size()}});
}

}  // namespace sv
