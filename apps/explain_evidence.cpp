// Faithfulness curves and the model-randomisation check of an explain run (see
// explain_evidence.h).
#include "apps/explain_evidence.h"

#include <map>
#include <utility>

#include "apps/method/randomisation.h"
#include "apps/method/rank_stats.h"

namespace sv {

std::vector<double> predicted_responses(Model& m, Backend& be, const std::string& layer, Pool pool, const Tensor& x,
                                        const std::vector<EvidenceReadout>& readouts,
                                        const std::vector<size_t>& readout_of, int64_t batch) {
  const Mat phi = mat_from_tensor(features(m, be, layer, pool, x, batch));
  SV_CHECK(static_cast<int64_t>(readout_of.size()) == phi.rows, ShapeError, "predicted_responses: one readout per image");
  std::vector<double> r(static_cast<size_t>(phi.rows));
  for (int64_t n = 0; n < phi.rows; ++n) {
    const EvidenceReadout& ro = readouts.at(readout_of[static_cast<size_t>(n)]);
    double y = ro.fit->b;
    for (int64_t i = 0; i < phi.cols; ++i) {
      const auto k = static_cast<size_t>(i);
      if (!ro.st->constant[k]) y += ro.fit->w[k] * (phi(n, i) - ro.st->mu[k]) / ro.st->sigma[k];
    }
    r[static_cast<size_t>(n)] = y;
  }
  return r;
}

namespace {

Tensor image(const Tensor& xu, int64_t u) {
  const Tensor s = xu.slice0(u, u + 1);
  return s.reshape({s.dim(1), s.dim(2), s.dim(3)});
}

}  // namespace

std::vector<std::array<Curves, 4>> faithfulness(Model& m, Backend& be, const std::string& layer, Pool pool,
                                                const Tensor& xu, const std::vector<EvidenceReadout>& readouts,
                                                const std::vector<EvidenceImage>& images, const FaithSettings& s,
                                                const ProgressFn& progress) {
  std::vector<std::array<Curves, 4>> out(images.size());
  if (images.empty()) return out;
  const int64_t D = static_cast<int64_t>(readouts.at(0).fit->w.size());

  // The gradient and IG maps of r̂: cotangent w / σ, one per readout, for each unique
  // (readout, image) once.
  Mat cot(static_cast<int64_t>(readouts.size()), D);
  for (size_t k = 0; k < readouts.size(); ++k) {
    const std::vector<double> g =
        shared_cotangent(std::vector<double>(static_cast<size_t>(D), 1.0), readouts[k].fit->w, *readouts[k].st);
    std::copy(g.begin(), g.end(), cot.row(static_cast<int64_t>(k)));
  }
  std::map<std::pair<size_t, int64_t>, size_t> job_of;
  std::vector<BackpropJob> jobs;
  for (const EvidenceImage& e : images)
    if (job_of.emplace(std::make_pair(e.readout, e.unique), jobs.size()).second)
      jobs.push_back({e.unique, static_cast<int64_t>(e.readout)});
  AttrOptions grad = s.ig;
  grad.attr = Attr::Grad;
  AttrOptions ig = s.ig;
  ig.attr = Attr::IG;
  const BackpropResult g = parallel_backprop(m, be, layer, pool, xu, cot, jobs, grad);
  const BackpropResult i = parallel_backprop(m, be, layer, pool, xu, cot, jobs, ig);

  // Two curves per (image, map), all in one list of tasks.
  const Tensor baselines = make_baseline(s.baseline, xu, m.info);
  std::vector<CurveTask> tasks;
  std::vector<size_t> readout_of_task;
  for (const EvidenceImage& e : images) {
    const size_t j = job_of.at({e.readout, e.unique});
    const Tensor x = image(xu, e.unique), b = image(baselines, e.unique);
    const int64_t P = x.dim(1) * x.dim(2);
    const std::array<std::vector<int64_t>, 4> rankings = {
        rank_pixels(reduce_channels(*e.shared, s.reduce)), rank_pixels(reduce_channels(g.saliency[j], s.reduce)),
        rank_pixels(reduce_channels(i.saliency[j], s.reduce)), random_ranking(P, kRandomRankingSeed + static_cast<uint64_t>(e.image))};
    for (const std::vector<int64_t>& r : rankings) {
      tasks.push_back({x, b, r, readouts[e.readout].min_drop});
      readout_of_task.push_back(e.readout);
    }
  }
  const std::vector<Curves> curves = deletion_insertion(
      tasks, s.steps, s.batch,
      [&](const Tensor& xb, const std::vector<size_t>& task_of) {
        std::vector<size_t> ro(task_of.size());
        for (size_t n = 0; n < task_of.size(); ++n) ro[n] = readout_of_task[task_of[n]];
        return predicted_responses(m, be, layer, pool, xb, readouts, ro, s.batch);
      },
      progress);
  for (size_t e = 0; e < images.size(); ++e)
    for (size_t k = 0; k < kFaithMethods.size(); ++k) out[e][k] = curves[e * kFaithMethods.size() + k];
  return out;
}

RandomisationResult model_randomisation(Model& m, Backend& be, const std::string& layer, Pool pool, const Tensor& xu,
                                        const Mat& cot, const std::vector<EvidenceImage>& images,
                                        const AttrOptions& attr, Reduce reduce, uint64_t seed,
                                        const ProgressFn& progress) {
  RandomisationResult res;
  res.spearman.resize(images.size());
  res.ssim.resize(images.size());
  std::vector<BackpropJob> jobs;
  for (const EvidenceImage& e : images) jobs.push_back({e.unique, e.cotangent});
  std::vector<Map2D> original;
  for (const EvidenceImage& e : images) original.push_back(reduce_channels(*e.shared, reduce));
  const double range = reduce_signed(reduce) ? 2.0 : 1.0;
  const std::vector<RandomisationStage> stages = randomisation_stages(m, layer);
  int64_t done = 0;
  for (const RandomisationStage& st : stages) {
    randomise_stage(m, st, seed, be);
    res.stages.push_back(st.name);
    const BackpropResult bp = parallel_backprop(m, be, layer, pool, xu, cot, jobs, attr);
    for (size_t e = 0; e < images.size(); ++e) {
      const Map2D now = reduce_channels(bp.saliency[e], reduce);
      res.spearman[e].push_back(spearman(std::vector<double>(original[e].v.begin(), original[e].v.end()),
                                         std::vector<double>(now.v.begin(), now.v.end())));
      res.ssim[e].push_back(ssim(unit_max(original[e]), unit_max(now), range));
    }
    if (progress) progress(++done, static_cast<int64_t>(stages.size()));
  }
  return res;
}

}  // namespace sv
