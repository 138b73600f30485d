// libFuzzer target: the IDX reader (apps/io/idx.h), plain and gzip-compressed.
//
// Feeds: the input as a whole IDX file (0 0 dtype ndim, big-endian dims, bytes), or a gzip
// stream of one, to read_idx with its default size limit.
// A bug is: a crash, a sanitizer report, a hang or an out-of-memory (a small file must not
// make the reader allocate what its header claims), or an accepted file whose data is not
// prod(dims) bytes. A clean sv::Error on a bad file is the expected outcome.
#include <cstddef>
#include <cstdint>

#include "apps/io/idx.h"
#include "autodiff/error.h"
#include "fuzz/harness.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  sv::fuzz::InputFile file(data, size);
  try {
    const sv::IdxArray a = sv::read_idx(file.path());
    size_t total = 1;
    for (int64_t d : a.dims) total *= static_cast<size_t>(d);
    if (a.data.size() != total) sv::fuzz::contract_broken("read_idx returned data of another size than its dims");
  } catch (const sv::Error&) {
  }
  return 0;
}
