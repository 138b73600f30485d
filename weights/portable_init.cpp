// Portable pseudo-random weights: a pure function of (seed, tensor name, element index),
// reproduced bit for bit by weights/convert.py (portable_values) so that tests can rebuild
// a full-size model natively instead of committing hundreds of megabytes of weights.
//
//   mix(z)    = splitmix64's finalizer; G = 0x9E3779B97F4A7C15; arithmetic mod 2^64
//   key       = mix(fnv1a64(name) ^ mix(seed + G))
//   t[i]      = ((mix(key + (i+1)*G) >> 40) - 2^23) / 2^23         in [-1, 1), exact
//   value[i]  = float32 of, in double precision:
//     *.running_var, 1-D *.weight (batchnorm gamma):   1 + t/2      in [0.5, 1.5)
//     *.running_mean, *.bias:                          t/4
//     *.weight with >= 2 dims (fan_in = numel/dim 0):  t * sqrt(6 / fan_in)  (Kaiming-uniform)
// Every expression is exact in double except the last, which is one correctly rounded
// multiply, so C++ and NumPy agree exactly.
#include "weights/model.h"

#include <cmath>

namespace sv {

namespace {

constexpr uint64_t kGolden = 0x9E3779B97F4A7C15ull;

uint64_t mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t fnv1a64(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

void init_portable(Module& net, uint64_t seed) {
  for (auto& [name, p] : net.state()) {
    Tensor& v = p->value;
    if (!v.defined()) continue;
    SV_CHECK(v.is_cpu(), Error, "init_portable: tensor " + name + " is not on the host");
    const bool weight = ends_with(name, "weight"), bias = ends_with(name, "bias");
    const bool var = ends_with(name, "running_var"), mean = ends_with(name, "running_mean");
    if (!weight && !bias && !var && !mean) continue;
    double scale = 0, offset = 0;
    if (var || (weight && v.ndim() == 1)) {
      scale = 0.5, offset = 1.0;
    } else if (mean || bias) {
      scale = 0.25;
    } else {
      scale = std::sqrt(6.0 / static_cast<double>(v.numel() / v.dim(0)));
    }
    const uint64_t key = mix(fnv1a64(name) ^ mix(seed + kGolden));
    Tensor out = Tensor::empty(v.shape(), DType::F32);
    float* o = out.data<float>();
    const int64_t n = out.numel();
    for (int64_t i = 0; i < n; ++i) {
      const uint64_t u = mix(key + static_cast<uint64_t>(i + 1) * kGolden) >> 40;
      const double t = (static_cast<double>(u) - 8388608.0) / 8388608.0;
      o[i] = static_cast<float>(offset + t * scale);
    }
    v = out.to(v.dtype());
    p->grad = Tensor();
  }
  net.invalidate_tree();  // cached derived tensors (folded batchnorm and conv) are stale now
}

}  // namespace sv
