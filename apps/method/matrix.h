// A dense row-major matrix of doubles: the method's statistics (features, contributions,
// responses) are small, so they live on the host in float64 whatever the backend.
#pragma once
#include <cstdint>
#include <vector>

#include "autodiff/tensor.h"

namespace sv {

struct Mat {
  int64_t rows = 0, cols = 0;
  std::vector<double> v;  // (rows, cols)

  Mat() = default;
  Mat(int64_t r, int64_t c, double fill = 0.0) : rows(r), cols(c), v(static_cast<size_t>(r * c), fill) {}
  double& operator()(int64_t r, int64_t c) { return v[static_cast<size_t>(r * cols + c)]; }
  double operator()(int64_t r, int64_t c) const { return v[static_cast<size_t>(r * cols + c)]; }
  double* row(int64_t r) { return v.data() + r * cols; }
  const double* row(int64_t r) const { return v.data() + r * cols; }
  std::vector<double> col(int64_t c) const {
    std::vector<double> out(static_cast<size_t>(rows));
    for (int64_t r = 0; r < rows; ++r) out[static_cast<size_t>(r)] = (*this)(r, c);
    return out;
  }
};

// A host tensor (N, D...) of any float dtype as an (N, prod(D...)) matrix; and back to float32.
Mat mat_from_tensor(const Tensor& t);
Tensor mat_to_tensor(const Mat& m);
// The listed rows, in order.
Mat select_rows(const Mat& m, const std::vector<int64_t>& rows);

}  // namespace sv
