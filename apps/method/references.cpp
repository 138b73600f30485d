// Similarities between contribution vectors and top-N / top-k selection.
#include "apps/method/references.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "autodiff/error.h"

namespace sv {

double similarity(Similarity s, const double* co, const double* cr, int64_t D) {
  double dot = 0, no = 0, nr = 0;
  switch (s) {
    case Similarity::Dot:
      for (int64_t i = 0; i < D; ++i) dot += co[i] * cr[i];
      return dot;
    case Similarity::Shared:
      for (int64_t i = 0; i < D; ++i) dot += std::max(co[i], 0.0) * std::max(cr[i], 0.0);
      return dot;
    case Similarity::Cosine:
      for (int64_t i = 0; i < D; ++i) {
        dot += co[i] * cr[i];
        no += co[i] * co[i];
        nr += cr[i] * cr[i];
      }
      return no > 0 && nr > 0 ? dot / std::sqrt(no * nr) : 0.0;
    case Similarity::Pearson: {
      double mo = 0, mr = 0;
      for (int64_t i = 0; i < D; ++i) {
        mo += co[i];
        mr += cr[i];
      }
      mo /= std::max<int64_t>(D, 1);
      mr /= std::max<int64_t>(D, 1);
      for (int64_t i = 0; i < D; ++i) {
        dot += (co[i] - mo) * (cr[i] - mr);
        no += (co[i] - mo) * (co[i] - mo);
        nr += (cr[i] - mr) * (cr[i] - mr);
      }
      return no > 0 && nr > 0 ? dot / std::sqrt(no * nr) : 0.0;
    }
  }
  return 0.0;
}

Mat contributions(const std::vector<double>& w, const Mat& z, const std::vector<int64_t>& rows) {
  SV_CHECK(static_cast<int64_t>(w.size()) == z.cols, ShapeError, "contributions: weight and feature sizes differ");
  Mat c(static_cast<int64_t>(rows.size()), z.cols);
  for (size_t i = 0; i < rows.size(); ++i)
    for (int64_t d = 0; d < z.cols; ++d) c(static_cast<int64_t>(i), d) = w[static_cast<size_t>(d)] * z(rows[i], d);
  return c;
}

std::vector<int64_t> top_by_response(const std::vector<double>& response, const std::vector<int64_t>& candidates,
                                     int n) {
  std::vector<int64_t> order(candidates);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return response[static_cast<size_t>(a)] > response[static_cast<size_t>(b)];
  });
  if (n >= 0 && order.size() > static_cast<size_t>(n)) order.resize(static_cast<size_t>(n));
  return order;
}

std::vector<Candidate> top_references(Similarity s, const std::vector<double>& c_o, const Mat& Cref,
                                      const std::vector<int64_t>& refs, int k) {
  SV_CHECK(Cref.rows == static_cast<int64_t>(refs.size()), ShapeError, "top_references: rows and images differ");
  SV_CHECK(static_cast<int64_t>(c_o.size()) == Cref.cols, ShapeError, "top_references: dimension mismatch");
  std::vector<Candidate> all(refs.size());
  for (size_t i = 0; i < refs.size(); ++i)
    all[i] = {refs[i], similarity(s, c_o.data(), Cref.row(static_cast<int64_t>(i)), Cref.cols)};
  std::stable_sort(all.begin(), all.end(), [](const Candidate& a, const Candidate& b) {
    if (a.score != b.score) return a.score > b.score;
    return a.image < b.image;
  });
  if (k >= 0 && all.size() > static_cast<size_t>(k)) all.resize(static_cast<size_t>(k));
  return all;
}

}  // namespace sv
