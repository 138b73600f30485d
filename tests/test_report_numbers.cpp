// The report says only true things (issue #10): the selectivity measures on hand-made
// response tables, what each r is computed from (and that --fit-on all gives no in-sample
// r_ooc), the flags of a collapsed readout, and how results.json and the gallery show them.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>

#include "apps/method/readout.h"
#include "apps/method/readout_quality.h"
#include "apps/method/selectivity.h"
#include "apps/report/figures.h"
#include "apps/report/gallery.h"
#include "apps/report/readout_labels.h"
#include "apps/report/results_json.h"

namespace sv::test {

namespace {

bool has_flag(const ReadoutCheck& c, const std::string& code) {
  for (const ReadoutFlag& f : c.flags)
    if (f.code == code) return true;
  return false;
}

const ReadoutFlag& flag(const ReadoutCheck& c, const std::string& code) {
  for (const ReadoutFlag& f : c.flags)
    if (f.code == code) return f;
  throw std::runtime_error("no flag " + code);
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

// ---------------------------------------------------------------- selectivity

TEST(Selectivity, HandMadeTable) {
  // Images 0-3 preferred (10, 8, 6, 4), images 4-9 ooc (9, 5, 3, 1, 0, -2).
  const std::vector<double> y = {10, 8, 6, 4, 9, 5, 3, 1, 0, -2};
  const std::vector<int64_t> pref = {0, 1, 2, 3}, ooc = {4, 5, 6, 7, 8, 9};
  const Selectivity s = selectivity(y, pref, ooc, 2);
  // K = 4: the top four responses are 10, 9, 8, 6; one of them (9) is ooc.
  EXPECT_EQ(s.top_k, 4);
  EXPECT_DOUBLE_EQ(s.top_ooc_share, 0.25);
  EXPECT_DOUBLE_EQ(s.chance_share, 0.6);
  // Top two ooc: 9 (above 8, 6, 4: 75th percentile) and 5 (above 4: 25th).
  EXPECT_EQ(s.top_ooc, (std::vector<int64_t>{4, 5}));
  ASSERT_EQ(s.ooc_percentiles.size(), 2u);
  EXPECT_DOUBLE_EQ(s.ooc_percentiles[0], 75.0);
  EXPECT_DOUBLE_EQ(s.ooc_percentiles[1], 25.0);
  EXPECT_DOUBLE_EQ(s.top_ooc_percentile, 50.0);
  // A negative response: the mean ratio is not defined.
  EXPECT_TRUE(std::isnan(s.mean_ratio));
}

TEST(Selectivity, UnchangedByShiftAndScaleAndRatioOnlyForNonNegative) {
  const std::vector<double> y = {10, 8, 6, 4, 9, 5, 3, 1, 0, -2};
  const std::vector<int64_t> pref = {0, 1, 2, 3}, ooc = {4, 5, 6, 7, 8, 9};
  const Selectivity a = selectivity(y, pref, ooc, 2);
  std::vector<double> shifted;
  for (double v : y) shifted.push_back(3 * v + 100);
  const Selectivity b = selectivity(shifted, pref, ooc, 2);
  EXPECT_DOUBLE_EQ(a.top_ooc_share, b.top_ooc_share);
  EXPECT_DOUBLE_EQ(a.top_ooc_percentile, b.top_ooc_percentile);
  // All >= 0 now: mean ooc = (3·16 + 600) / 6 = 108, mean = (3·44 + 1000) / 10 = 113.2.
  EXPECT_NEAR(b.mean_ratio, 108.0 / 113.2, 1e-12);
  // The default run's trap: a mean near zero. Mean ratio -29.6 said "ooc responses are
  // far above the mean"; the share and percentile say they are far below the preferred.
  const std::vector<double> logits = {16, 17, 18, -1.8, -1.9, -1.7, 1.0, -2.0, -2.1, 0.5, 0.3};
  const Selectivity c = selectivity(logits, {0, 1, 2}, {3, 4, 5, 6, 7, 8, 9, 10}, 1);
  EXPECT_DOUBLE_EQ(c.top_ooc_share, 0.0);
  EXPECT_DOUBLE_EQ(c.top_ooc_percentile, 0.0);
  EXPECT_TRUE(std::isnan(c.mean_ratio));
}

TEST(Selectivity, TiesShareTheLastPlaces) {
  // Preferred (5, 5), ooc (5, 1): K = 2, three responses tie at the K-th value 5, one of
  // them ooc: it takes 2/3 of a place: share (2 · 1/3) / 2 = 1/3.
  const std::vector<double> y = {5, 5, 5, 1};
  const Selectivity s = selectivity(y, {0, 1}, {2, 3}, 1);
  EXPECT_NEAR(s.top_ooc_share, 1.0 / 3.0, 1e-15);
  EXPECT_DOUBLE_EQ(s.ooc_percentiles[0], 50.0);  // equal to both: half counts
  EXPECT_DOUBLE_EQ(percentile_rank({1, 2, 3, 4}, 2.5), 50.0);
  EXPECT_DOUBLE_EQ(percentile_rank({1, 2, 3, 4}, 4), 87.5);
  EXPECT_TRUE(std::isnan(percentile_rank({}, 1)));
}

// ---------------------------------------------------------------- what each r is

TEST(ReadoutScores, PreferredFitHeldOutOoc) {
  // Fit set: the preferred images 0, 1, 2 with out-of-fold predictions (1, 2, 3.5).
  RidgeFit fit;
  fit.cv_score = 0.7;
  fit.oof = {1, 2, 3.5};
  const std::vector<double> y = {1, 2, 3, 5, 6, 7};
  const std::vector<double> final_pred = {0, 0, 0, 4, 7, 6};
  const ReadoutScores s = score_readout(fit, y, final_pred, {0, 1, 2}, {0, 1, 2}, {3, 4, 5});
  EXPECT_DOUBLE_EQ(s.cv_fold_mean, 0.7);
  // Pooled out-of-fold within: (1, 2, 3.5) vs (1, 2, 3): r = 2.5 / sqrt(19/6 · 2).
  EXPECT_NEAR(s.within_oof, 2.5 / std::sqrt(19.0 / 3.0), 1e-12);
  // Held-out ooc: the final readout (4, 7, 6) vs (5, 6, 7): r = 2 / sqrt(42/9 · 2).
  EXPECT_NEAR(s.ooc_held_out, 6.0 / std::sqrt(84.0), 1e-12);
  EXPECT_EQ(s.n_ooc_held_out, 3);
  EXPECT_EQ(s.n_ooc_oof, 0);
  EXPECT_TRUE(std::isnan(s.ooc_oof));
  // The scatter shows out-of-fold predictions for fitted images, the final readout elsewhere.
  EXPECT_EQ(s.prediction, (std::vector<double>{1, 2, 3.5, 4, 7, 6}));
}

TEST(ReadoutScores, FitOnAllGivesNoInSampleOocR) {
  // Every image fitted on: the final readout predicts the ooc images perfectly in sample
  // (5, 6, 7), their out-of-fold predictions are (7, 5, 6). The held-out r_ooc is not
  // given; the out-of-fold one is r = -0.5, never the in-sample 1.
  RidgeFit fit;
  fit.cv_score = 0.1;
  fit.oof = {1, 2, 3.5, 7, 5, 6};
  const std::vector<double> y = {1, 2, 3, 5, 6, 7};
  const std::vector<double> final_pred = {1, 2, 3, 5, 6, 7};
  const ReadoutScores s = score_readout(fit, y, final_pred, {0, 1, 2, 3, 4, 5}, {0, 1, 2}, {3, 4, 5});
  EXPECT_TRUE(std::isnan(s.ooc_held_out));
  EXPECT_EQ(s.n_ooc_held_out, 0);
  EXPECT_EQ(s.n_ooc_oof, 3);
  EXPECT_NEAR(s.ooc_oof, -0.5, 1e-12);
  EXPECT_EQ(s.prediction, fit.oof);
}

TEST(ReadoutLabels, EveryRSaysWhatItIs) {
  NeuronResult n;
  n.folds = 5;
  n.n_fit = n.n_preferred = 30;
  n.cv_score = 0.81;
  n.r_within = 0.8;
  n.r_ooc = 0.4;
  n.n_ooc_held_out = 270;
  std::vector<LabelledR> rs = readout_rs(n);
  ASSERT_EQ(rs.size(), 3u);
  EXPECT_EQ(rs[0].key, "cv_fold_mean");
  EXPECT_EQ(rs[0].kind, "per-fold mean");
  EXPECT_TRUE(contains(rs[0].label, "chose λ")) << rs[0].label;
  EXPECT_EQ(rs[1].key, "within");
  EXPECT_EQ(rs[1].kind, "pooled out-of-fold");
  EXPECT_EQ(rs[1].value, 0.8);
  EXPECT_EQ(rs[2].key, "ooc");
  EXPECT_EQ(rs[2].kind, "held-out");
  EXPECT_EQ(rs[2].n, 270);
  EXPECT_TRUE(rs[2].absent.empty());
  // --fit-on all: no held-out ooc r, and why; the out-of-fold one under its own name.
  n.n_fit = 300;
  n.r_ooc = kNoValue;
  n.n_ooc_held_out = 0;
  n.r_ooc_oof = 0.3;
  n.n_ooc_oof = 270;
  rs = readout_rs(n);
  ASSERT_EQ(rs.size(), 4u);
  EXPECT_TRUE(std::isnan(rs[2].value));
  EXPECT_TRUE(contains(rs[2].absent, "--fit-on all")) << rs[2].absent;
  EXPECT_EQ(rs[3].key, "ooc_out_of_fold");
  EXPECT_EQ(rs[3].kind, "pooled out-of-fold");
  EXPECT_EQ(rs[3].value, 0.3);
}

// ---------------------------------------------------------------- collapsed readouts

TEST(ReadoutCheck, CollapsedReadoutIsFlagged) {
  // The case: 25 fit images, the 1se rule at λ = 1e6, predictions 0.8796-0.8798.
  const std::vector<double> grid = log_grid(1e-2, 1e6, 17);
  RidgeFit fit;
  fit.lambda = grid.back();
  fit.cv_curve.assign(grid.size(), 0.30);
  fit.cv_curve[8] = 0.35;  // the best, at λ = 100
  fit.cv_score = 0.30;
  std::vector<double> y, pred;
  for (int i = 0; i < 25; ++i) {
    y.push_back(std::sin(i) * 2 + 1);
    pred.push_back(0.8796 + 0.0002 * (i % 2));
  }
  fit.oof = pred;
  const ReadoutCheck c = check_readout(fit, grid, true, y, pred);
  EXPECT_FALSE(c.ok());
  ASSERT_TRUE(has_flag(c, "lambda_at_upper_edge"));
  ASSERT_TRUE(has_flag(c, "near_constant_predictions"));
  EXPECT_LT(c.prediction_sd_ratio, kNearConstantRatio);
  const ReadoutFlag& edge = flag(c, "lambda_at_upper_edge");
  EXPECT_TRUE(contains(edge.reason, "1e+06")) << edge.reason;
  EXPECT_TRUE(contains(edge.reason, "1se")) << edge.reason;
  EXPECT_TRUE(contains(edge.remedy, "--lambda-rule best")) << edge.remedy;
  const ReadoutFlag& flat = flag(c, "near_constant_predictions");
  EXPECT_TRUE(contains(flat.reason, "25 fit images")) << flat.reason;
  EXPECT_FALSE(flat.remedy.empty());
}

TEST(ReadoutCheck, RidgeAtAHugeLambdaIsNearConstant) {
  // A real fit: 25 images, 20 dimensions, λ = 1e6 fixed. A fixed λ is no grid edge, but
  // the predictions collapse (shrinkage s² / (s² + λ) ~ 1e-4).
  std::mt19937_64 rng(4);
  std::normal_distribution<double> nd;
  Mat Z(25, 20), Y(25, 1);
  for (double& v : Z.v) v = nd(rng);
  for (int64_t i = 0; i < 25; ++i) Y(i, 0) = Z(i, 0) + Z(i, 1) + 0.3 * nd(rng);
  RidgeOptions opt;
  opt.lambdas = {1e6};
  opt.folds = 5;
  const RidgeFit fit = fit_ridge(Z, Y, opt)[0];
  const ReadoutCheck c = check_readout(fit, opt.lambdas, false, Y.col(0), predict(fit, Z));
  EXPECT_FALSE(c.lambda_searched);
  EXPECT_FALSE(has_flag(c, "lambda_at_upper_edge"));
  EXPECT_TRUE(has_flag(c, "near_constant_predictions"));
  EXPECT_LT(c.prediction_sd_ratio, 1e-3);
  // The same data on the default grid with the best λ: a healthy readout, no flag.
  opt.lambdas = log_grid(1e-2, 1e6, 17);
  const RidgeFit good = fit_ridge(Z, Y, opt)[0];
  const ReadoutCheck g = check_readout(good, opt.lambdas, false, Y.col(0), predict(good, Z));
  EXPECT_TRUE(g.ok()) << (g.ok() ? "" : g.flags[0].reason);
  EXPECT_GT(g.prediction_sd_ratio, 0.5);
}

TEST(ReadoutCheck, LowerEdgeSaysExtendTheGrid) {
  const std::vector<double> grid = log_grid(1e-2, 1e6, 17);
  RidgeFit fit;
  fit.lambda = grid.front();
  fit.cv_curve.assign(grid.size(), 0.5);
  fit.cv_score = 0.9;
  fit.oof = {1, 2, 3, 4};
  const ReadoutCheck c = check_readout(fit, grid, false, {1, 2, 3, 4}, {1.1, 2, 3, 3.9});
  ASSERT_EQ(c.flags.size(), 1u);
  EXPECT_EQ(c.flags[0].code, "lambda_at_lower_edge");
  EXPECT_TRUE(contains(c.flags[0].remedy, "--lambda-grid 0.0001,1e+06,21")) << c.flags[0].remedy;
}

// ---------------------------------------------------------------- decomposition scale

TEST(Figures, PanelOnItsPairsScale) {
  // Two (1, 2, 2) saliencies with maximum 4. On their own scale (clip percentile 100) the
  // strongest pixel is 1; on a scale twice as large (a pair whose shared map is twice as
  // strong) it is 1/2. Gray over black: the pixel is 255 · 0.75 m · m.
  const Tensor sa = Tensor::from_vector(std::vector<float>{0, 1, 2, 4}, {1, 2, 2});
  const Tensor sb = Tensor::from_vector(std::vector<float>{0, 0, 1, 2}, {1, 2, 2});
  HeatmapOptions opt;
  opt.smooth = 0;
  opt.clip_percentile = 100;
  opt.colormap = Colormap::Gray;
  const Rgb black{2, 2, std::vector<uint8_t>(12, 0)};
  const PairOverlays own = pair_overlays(sa, sb, black, black, opt);
  EXPECT_DOUBLE_EQ(own.scale, 4.0);
  EXPECT_DOUBLE_EQ(own.own_scale, 4.0);
  EXPECT_EQ(own.a.px[3 * 3], 191);  // 255 · 0.75 · 1 · 1
  const PairOverlays at = pair_overlays_at(sa, sb, black, black, opt, 8.0);
  EXPECT_DOUBLE_EQ(at.scale, 8.0);
  EXPECT_DOUBLE_EQ(at.own_scale, 4.0);
  EXPECT_EQ(at.a.px[3 * 3], 48);  // 255 · 0.75 · 0.5 · 0.5 = 47.8
}

// ---------------------------------------------------------------- results.json and the gallery

namespace {

// One fitted neuron with one pair and two decomposition panels on the pair's scale; the
// readout flagged or not.
RunResult small_run(bool flagged, bool fit_on_all) {
  RunResult r;
  r.title = "test";
  r.readout_file = "readout.safetensors";
  r.images = {{"pref 0", "body"}, {"ooc 1", "object"}};
  NeuronResult n;
  n.name = "n1";
  n.preferred = "body";
  n.folds = 5;
  n.n_fit = fit_on_all ? 2 : 1;
  n.n_preferred = 1;
  n.n_ooc = 1;
  n.lambda = 100;
  n.cv_score = 0.6;
  n.r_within = 0.5;
  if (fit_on_all) {
    n.n_ooc_oof = 1;
    n.r_ooc_oof = 0.2;
  } else {
    n.n_ooc_held_out = 1;
    n.r_ooc = 0.4;
  }
  n.top_k = 1;
  n.top_ooc_share = 0.0;
  n.chance_share = 0.5;
  n.top_ooc_percentile = 12.5;
  n.mean_ratio = kNoValue;
  if (flagged) n.flags.push_back({"lambda_at_upper_edge", "λ = 1e+06 is the largest value", "use more images"});
  PairResult p;
  p.ooc = 1;
  p.ref = 0;
  p.ooc_fitted = fit_on_all;
  p.ooc_percentile = 12.5;
  p.scale = 0.25;
  p.png_ooc = "pairs/n0_p0_ooc.png";
  p.png_ref = "pairs/n0_p0_ref.png";
  p.png_pair = "pairs/n0_p0_pair.png";
  p.decomposition = {{7, 0.4, 0.25, 0.1, "pairs/n0_p0_dim7.png"}, {3, 0.2, 0.25, 0.05, "pairs/n0_p0_dim3.png"}};
  n.pairs.push_back(p);
  r.neurons.push_back(n);
  return r;
}

}  // namespace

TEST(ResultsJson, LabelsScalesFlagsAndSelectivity) {
  const nlohmann::json j = results_json(small_run(false, false));
  const auto& n = j["neurons"][0];
  EXPECT_EQ(n["r"]["cv_fold_mean"]["kind"], "per-fold mean");
  EXPECT_EQ(n["r"]["cv_fold_mean"]["value"], 0.6);
  EXPECT_EQ(n["r"]["within"]["kind"], "pooled out-of-fold");
  EXPECT_EQ(n["r"]["ooc"]["kind"], "held-out");
  EXPECT_EQ(n["r"]["ooc"]["value"], 0.4);
  EXPECT_EQ(n["r_ooc"], 0.4);
  EXPECT_FALSE(n["r"].contains("ooc_out_of_fold"));
  for (const char* k : {"cv_fold_mean", "within", "ooc"}) EXPECT_FALSE(n["r"][k]["label"].get<std::string>().empty());
  EXPECT_FALSE(n["readout_check"]["flagged"].get<bool>());
  EXPECT_TRUE(n["pairs"][0]["maps_are_evidence"].get<bool>());
  EXPECT_EQ(n["selectivity"]["top_ooc_share"], 0.0);
  EXPECT_EQ(n["selectivity"]["top_ooc_percentile"], 12.5);
  EXPECT_TRUE(n["selectivity"]["mean_ratio"].is_null());
  EXPECT_TRUE(n["ooc_mean_relative"].is_null());
  EXPECT_EQ(n["pairs"][0]["ooc"]["percentile_in_preferred"], 12.5);
  EXPECT_FALSE(n["pairs"][0]["ooc"]["predicted_in_sample"].get<bool>());
  // Every decomposition panel states its scale: here the pair's.
  const auto& p = n["pairs"][0];
  ASSERT_EQ(p["decomposition"].size(), 2u);
  for (const auto& d : p["decomposition"]) {
    EXPECT_EQ(d["heatmap_scale"], p["heatmap_scale"]);
    EXPECT_TRUE(d["own_scale"].is_number());
  }
}

TEST(ResultsJson, FitOnAllHasNoHeldOutOocR) {
  const nlohmann::json j = results_json(small_run(false, true));
  const auto& n = j["neurons"][0];
  EXPECT_TRUE(n["r_ooc"].is_null());
  EXPECT_TRUE(n["r"]["ooc"]["value"].is_null());
  EXPECT_TRUE(contains(n["r"]["ooc"]["absent_because"].get<std::string>(), "--fit-on all"));
  EXPECT_EQ(n["r"]["ooc_out_of_fold"]["value"], 0.2);
  EXPECT_TRUE(n["pairs"][0]["ooc"]["predicted_in_sample"].get<bool>());
}

TEST(ResultsJson, FlaggedReadout) {
  const nlohmann::json j = results_json(small_run(true, false));
  const auto& n = j["neurons"][0];
  EXPECT_TRUE(n["readout_check"]["flagged"].get<bool>());
  EXPECT_FALSE(n["readout_check"]["maps_are_evidence"].get<bool>());
  EXPECT_TRUE(n["lambda_at_grid_edge"].get<bool>());
  EXPECT_EQ(n["readout_check"]["flags"][0]["code"], "lambda_at_upper_edge");
  EXPECT_EQ(n["readout_check"]["flags"][0]["remedy"], "use more images");
  EXPECT_FALSE(n["pairs"][0]["maps_are_evidence"].get<bool>());
}

TEST(Gallery, NamesEveryRAndHidesMapsOfAFlaggedReadout) {
  GalleryStyle style;
  const std::string ok = gallery_html(small_run(false, false), style);
  EXPECT_TRUE(contains(ok, "r CV<br>(per-fold mean)"));
  EXPECT_TRUE(contains(ok, "r within<br>(pooled out-of-fold)"));
  EXPECT_TRUE(contains(ok, "r ooc<br>(held-out)"));
  EXPECT_TRUE(contains(ok, "ooc share of<br>top-K responses"));
  EXPECT_FALSE(contains(ok, "mean ooc / mean"));  // signed responses: no ratio
  EXPECT_TRUE(contains(ok, "<dt>ooc share of the top-K responses</dt>"));
  EXPECT_TRUE(contains(ok, "<img src=\"pairs/n0_p0_ooc.png\""));
  EXPECT_TRUE(contains(ok, "on the pair's scale"));
  EXPECT_FALSE(contains(ok, "not evidence (see"));

  const std::string bad = gallery_html(small_run(true, false), style);
  EXPECT_TRUE(contains(bad, "Readout flagged"));
  EXPECT_TRUE(contains(bad, "λ = 1e+06 is the largest value"));
  EXPECT_TRUE(contains(bad, "<b>Remedy:</b> use more images"));
  EXPECT_TRUE(contains(bad, "heatmaps of a flagged readout: not evidence"));
  // The overlays are not shown next to the images; the pair figure only inside the fold.
  EXPECT_FALSE(contains(bad, "<img src=\"pairs/n0_p0_ooc.png\""));
  const size_t fold = bad.find("<details class=notevidence>");
  ASSERT_NE(fold, std::string::npos);
  EXPECT_GT(bad.find("<img src=\"pairs/n0_p0_pair.png\""), fold);

  const std::string all = gallery_html(small_run(false, true), style);
  EXPECT_TRUE(contains(all, "r ooc<br>(pooled out-of-fold)"));
  EXPECT_TRUE(contains(all, "r ooc (held-out) not given"));
  EXPECT_TRUE(contains(all, "(fitted on it)"));
}

}  // namespace sv::test
