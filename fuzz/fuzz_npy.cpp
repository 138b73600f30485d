// libFuzzer target: the NPY reader (apps/io/npy.h).
//
// Feeds: the input as a whole .npy file (magic, version, header length, Python-dict
// header, data) to read_npy.
// A bug is: a crash, a sanitizer report, a hang or an out-of-memory, or an accepted file
// whose tensor is not float32 with as many elements as its shape says. A clean sv::Error
// on a bad file is the expected outcome.
#include <cstddef>
#include <cstdint>

#include "apps/io/npy.h"
#include "autodiff/error.h"
#include "fuzz/harness.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  sv::fuzz::InputFile file(data, size);
  try {
    const sv::Tensor t = sv::read_npy(file.path());
    if (t.dtype() != sv::DType::F32 || t.numel() != sv::shape_numel(t.shape()))
      sv::fuzz::contract_broken("read_npy returned a tensor that is not float32 of its shape");
  } catch (const sv::Error&) {
  }
  return 0;
}
