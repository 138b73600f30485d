// Choosing what to explain (docs/method.md §2): a neuron's top ooc images by recorded
// response, and for each the preferred-category image whose neuron-specific contribution
// pattern c(x) = w ⊙ z(x) is most similar.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "apps/enum_names.h"
#include "apps/method/matrix.h"

namespace sv {

enum class Similarity { Cosine, Dot, Pearson, Shared };
inline constexpr std::array<EnumName<Similarity>, 4> kSimilarityNames{{{"cosine", Similarity::Cosine}, {"dot", Similarity::Dot}, {"pearson", Similarity::Pearson}, {"shared", Similarity::Shared}}};
inline Similarity parse_similarity(const std::string& s) { return parse_enum(kSimilarityNames, s, "similarity"); }
inline const char* similarity_name(Similarity v) { return enum_name(kSimilarityNames, v); }

// s(c_o, c_r) over D dimensions: cosine (0 when either is zero), dot, Pearson (0 when
// either is constant), shared = Σ_i relu(c_o,i) · relu(c_r,i).
double similarity(Similarity s, const double* co, const double* cr, int64_t D);

// Contributions c(x) = w ⊙ z(x) of the listed rows of z (N, D): (rows, D).
Mat contributions(const std::vector<double>& w, const Mat& z, const std::vector<int64_t>& rows);

// The n candidates with the largest response, best first (ties: lower index first).
std::vector<int64_t> top_by_response(const std::vector<double>& response, const std::vector<int64_t>& candidates,
                                     int n);

struct Candidate {
  int64_t image = -1;  // index into the run's images
  double score = 0;
};

// The k candidate references (rows of Cref, which hold c(x) of the images `refs`) most
// similar to c_o, best first (ties: lower image index first).
std::vector<Candidate> top_references(Similarity s, const std::vector<double>& c_o, const Mat& Cref,
                                      const std::vector<int64_t>& refs, int k);

}  // namespace sv
