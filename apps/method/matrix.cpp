// Conversions between host tensors and Mat.
#include "apps/method/matrix.h"

namespace sv {

Mat mat_from_tensor(const Tensor& t) {
  SV_CHECK(t.is_cpu(), ShapeError, "mat_from_tensor: tensor must be on the host");
  SV_CHECK(t.ndim() >= 1, ShapeError, "mat_from_tensor: expected (N, ...), got " + shape_str(t.shape()));
  const int64_t n = t.dim(0);
  Mat m(n, n == 0 ? 0 : t.numel() / n);
  if (t.dtype() == DType::F64) {
    const double* p = t.data<double>();
    m.v.assign(p, p + t.numel());
  } else {
    const std::vector<float> f = t.to_vector();
    m.v.assign(f.begin(), f.end());
  }
  return m;
}

Tensor mat_to_tensor(const Mat& m) {
  std::vector<float> f(m.v.begin(), m.v.end());
  return Tensor::from_vector(f, {m.rows, m.cols});
}

Mat select_rows(const Mat& m, const std::vector<int64_t>& rows) {
  Mat out(static_cast<int64_t>(rows.size()), m.cols);
  for (size_t i = 0; i < rows.size(); ++i) {
    SV_CHECK(rows[i] >= 0 && rows[i] < m.rows, ValueError, "select_rows: row index out of range");
    std::copy(m.row(rows[i]), m.row(rows[i]) + m.cols, out.row(static_cast<int64_t>(i)));
  }
  return out;
}

}  // namespace sv
