// libFuzzer target: the responses CSV reader (apps/io/csv.h).
//
// Feeds: the input as the text of a responses file (image,category,NEURON#k... then one
// row per image) to read_responses_csv through its stream entry point. The file is named
// as if it lived in fuzz/, so a row whose image field is "fuzz_csv.cpp" (this file; the
// seeds use it) names an existing image and the row goes on to the numeric columns.
// A bug is: a crash, a sanitizer report, a hang or an out-of-memory, or an accepted table
// whose matrices do not have one row per image. A clean sv::Error on a bad file is the
// expected outcome.
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#include "apps/io/csv.h"
#include "autodiff/error.h"
#include "fuzz/harness.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
  try {
    const sv::ResponseTable t = sv::read_responses_csv(in, SHAREDVIS_FUZZ_DIR "/responses.csv");
    if (t.repeats.size() != t.neurons.size()) sv::fuzz::contract_broken("one matrix per neuron");
    for (const sv::Mat& m : t.repeats)
      if (m.rows != static_cast<int64_t>(t.images.size())) sv::fuzz::contract_broken("one row per image");
  } catch (const sv::Error&) {
  }
  return 0;
}
