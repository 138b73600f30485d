// libFuzzer target: the safetensors reader (weights/safetensors.h).
//
// Feeds: the input as a whole .safetensors file ([u64 length][JSON header][data]) to
// SafetensorsReader, then reads every tensor the header lists.
// A bug is: a crash, a sanitizer report, a hang or an out-of-memory, or a file whose
// header the reader accepted but whose tensors it then cannot read or reads with the
// wrong shape (the header checks promise the data is inside the file). A clean sv::Error
// on a bad file is the expected outcome.
#include <cstddef>
#include <cstdint>

#include "autodiff/error.h"
#include "fuzz/harness.h"
#include "weights/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  sv::fuzz::InputFile file(data, size);
  try {
    sv::SafetensorsReader reader(file.path());
    for (const sv::StEntry& e : reader.entries()) {
      sv::Tensor t;
      try {
        t = reader.read(e);
      } catch (const sv::Error& err) {
        sv::fuzz::contract_broken(std::string("accepted header, unreadable tensor: ") + err.what());
      }
      if (t.shape() != e.shape) sv::fuzz::contract_broken("tensor '" + e.name + "' read with another shape");
    }
  } catch (const sv::Error&) {
  }
  return 0;
}
