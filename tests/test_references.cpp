// Choosing pairs (docs/method.md §2) and shared-dimension weights (§3) on hand-made vectors.
#include <gtest/gtest.h>

#include <cmath>

#include "apps/method/references.h"
#include "apps/method/shared.h"

namespace sv::test {

TEST(References, Similarities) {
  const std::vector<double> a = {1, 2, -1}, b = {2, 1, 1};
  // dot = 2 + 2 - 1 = 3; |a| = |b| = sqrt(6): cosine 0.5.
  EXPECT_NEAR(similarity(Similarity::Dot, a.data(), b.data(), 3), 3.0, 1e-12);
  EXPECT_NEAR(similarity(Similarity::Cosine, a.data(), b.data(), 3), 0.5, 1e-12);
  // shared = relu(a)·relu(b) = 2 + 2 + 0 = 4.
  EXPECT_NEAR(similarity(Similarity::Shared, a.data(), b.data(), 3), 4.0, 1e-12);
  // pearson: a - mean = (1/3, 4/3, -5/3), b - mean = (2/3, -1/3, -1/3): cov ∝ 2/9 - 4/9 + 5/9 = 1/3;
  // |a|² = 42/9, |b|² = 6/9 -> r = (1/3) / sqrt(42·6/81) = 3 / sqrt(252).
  EXPECT_NEAR(similarity(Similarity::Pearson, a.data(), b.data(), 3), 3.0 / std::sqrt(252.0), 1e-12);
  const std::vector<double> z = {0, 0, 0};
  EXPECT_EQ(similarity(Similarity::Cosine, a.data(), z.data(), 3), 0.0);
  EXPECT_EQ(parse_similarity("pearson"), Similarity::Pearson);
  EXPECT_THROW(parse_similarity("euclid"), ValueError);
}

TEST(References, ContributionsAreWeightTimesZ) {
  Mat z(2, 3);
  z.v = {1, 2, 3, -1, 0, 2};
  const Mat c = contributions({2, -1, 0.5}, z, {1, 0});
  EXPECT_EQ(c.v, (std::vector<double>{-2, 0, 1, 2, -2, 1.5}));
}

TEST(References, TopOocByRecordedResponse) {
  const std::vector<double> resp = {5, 1, 9, 3, 9, 7};
  // candidates exclude image 5 (say, preferred); ties keep the lower index first.
  EXPECT_EQ(top_by_response(resp, {0, 1, 2, 3, 4}, 3), (std::vector<int64_t>{2, 4, 0}));
  EXPECT_EQ(top_by_response(resp, {1, 3}, 5), (std::vector<int64_t>{3, 1}));
}

TEST(References, BestReferenceByEachSimilarity) {
  // c_o points along dim 0 with a little of dim 1. Candidates (images 10, 11, 12):
  //   10: same direction, small  -> best cosine, smaller dot
  //   11: big along dim 0 and 2  -> best dot and best shared
  //   12: opposite                -> worst
  const std::vector<double> c_o = {2, 1, 0};
  Mat C(3, 3);
  C.v = {0.2, 0.1, 0.0, 5, 0, 5, -2, -1, 0};
  const std::vector<int64_t> refs = {10, 11, 12};
  std::vector<Candidate> cos = top_references(Similarity::Cosine, c_o, C, refs, 5);
  ASSERT_EQ(cos.size(), 3u);
  EXPECT_EQ(cos[0].image, 10);
  EXPECT_NEAR(cos[0].score, 1.0, 1e-12);
  EXPECT_EQ(cos[2].image, 12);
  EXPECT_NEAR(cos[2].score, -1.0, 1e-12);
  std::vector<Candidate> dot = top_references(Similarity::Dot, c_o, C, refs, 2);
  ASSERT_EQ(dot.size(), 2u);
  EXPECT_EQ(dot[0].image, 11);
  EXPECT_NEAR(dot[0].score, 10.0, 1e-12);
  EXPECT_EQ(top_references(Similarity::Shared, c_o, C, refs, 1)[0].image, 11);
}

TEST(SharedWeights, EachRuleOnHandMadeVectors) {
  const std::vector<double> co = {2, -1, 3, 1}, cr = {1, 4, -2, 4};
  double l1 = 0;
  // relu-product: (2, 0, 0, 4) / 6
  std::vector<double> a = shared_weights(SharedRule::ReluProduct, co, cr, &l1);
  EXPECT_NEAR(l1, 6.0, 1e-12);
  EXPECT_NEAR(a[0], 2.0 / 6, 1e-12);
  EXPECT_EQ(a[1], 0.0);
  EXPECT_EQ(a[2], 0.0);
  EXPECT_NEAR(a[3], 4.0 / 6, 1e-12);
  // signed-product: (2, -4, -6, 4), Σ|α| = 16
  a = shared_weights(SharedRule::SignedProduct, co, cr, &l1);
  EXPECT_NEAR(l1, 16.0, 1e-12);
  EXPECT_NEAR(a[1], -4.0 / 16, 1e-12);
  EXPECT_NEAR(a[2], -6.0 / 16, 1e-12);
  // min: (1, 0, 0, 1) / 2
  a = shared_weights(SharedRule::Min, co, cr);
  EXPECT_NEAR(a[0], 0.5, 1e-12);
  EXPECT_NEAR(a[3], 0.5, 1e-12);
  // geomean: (sqrt 2, 0, 0, 2) / (2 + sqrt 2)
  a = shared_weights(SharedRule::Geomean, co, cr);
  EXPECT_NEAR(a[0], std::sqrt(2.0) / (2 + std::sqrt(2.0)), 1e-12);
  EXPECT_NEAR(a[3], 2.0 / (2 + std::sqrt(2.0)), 1e-12);
  for (SharedRule r : {SharedRule::ReluProduct, SharedRule::SignedProduct, SharedRule::Min, SharedRule::Geomean}) {
    double s = 0;
    for (double x : shared_weights(r, co, cr)) s += std::abs(x);
    EXPECT_NEAR(s, 1.0, 1e-12) << shared_rule_name(r);
  }
}

TEST(SharedWeights, NothingSharedStaysZero) {
  double l1 = 1;
  const std::vector<double> a = shared_weights(SharedRule::ReluProduct, {1, -1}, {-1, 1}, &l1);
  EXPECT_EQ(l1, 0.0);
  EXPECT_EQ(a, (std::vector<double>{0, 0}));
  EXPECT_TRUE(top_dims(a, 3).empty());
}

TEST(SharedWeights, TopDimsAndShare) {
  const std::vector<double> a = {0.1, 0.4, -0.2, 0.25, 0.05};
  const std::vector<TopDim> t = top_dims(a, 3);
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t[0].dim, 1);
  EXPECT_EQ(t[1].dim, 3);
  EXPECT_EQ(t[2].dim, 0);
  EXPECT_NEAR(t[0].alpha + t[1].alpha + t[2].alpha, 0.75, 1e-12);
  EXPECT_EQ(parse_shared_rule("geomean"), SharedRule::Geomean);
  EXPECT_THROW(parse_shared_rule("max"), ValueError);
}

}  // namespace sv::test
