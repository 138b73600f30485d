// The report stage of `sharedvis explain`: assemble, draw, write (apps/explain_report.h).
#include "apps/explain_report.h"

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>

#include "apps/io/npy.h"
#include "apps/method/heatmap.h"
#include "apps/report/figures.h"
#include "apps/report/gallery.h"
#include "apps/report/readout_file.h"
#include "apps/report/results_json.h"

namespace sv {

namespace {

double since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// The run's result before the figures: inputs, choices, neurons with their readouts, pairs
// and evidence.
RunResult assemble(const ReportInputs& in) {
  const ExplainConfig& c = *in.config;
  const Analysed& data = *in.data;
  RunResult r;
  r.images = data.images;
  r.inputs = data.description;
  r.inputs["model"] = in.model.path;
  r.choices = choices_json(c, in.model.path, in.model.arch, in.model.layer, data.phi.cols, in.model.backend);
  r.lambdas = c.readout.lambdas;
  const size_t n = data.neurons.size();
  r.title = "sharedvis: " + std::to_string(n) + " neuron" + (n == 1 ? "" : "s") + ", " + in.model.arch + " " +
            in.model.layer + " (" + pool_name(c.model.pool) + ")";
  r.neurons = in.readouts->neurons;
  const Evidence& ev = *in.evidence;
  for (size_t k = 0; k < in.readouts->fitted.size(); ++k)
    r.neurons[in.readouts->fitted[k].neuron].faith_min_drop = ev.min_drop[k];
  for (size_t p = 0; p < in.pairs->plans.size(); ++p) {
    PairResult pr = in.pairs->plans[p].pair;
    pr.faith_ooc = ev.pairs[p].faith_ooc;
    pr.faith_ref = ev.pairs[p].faith_ref;
    pr.rand_ooc = ev.pairs[p].rand_ooc;
    pr.rand_ref = ev.pairs[p].rand_ref;
    r.neurons[in.pairs->plans[p].neuron].pairs.push_back(std::move(pr));
  }
  if (!in.pairs->jobs.empty()) r.inputs["backprop"] = in.backprop;
  r.faithfulness = ev.faithfulness;
  r.randomisation = ev.randomisation;
  return r;
}

// The images, overlays, pair figures, decomposition panels and raw saliency files, one
// pair at a time: a pair's maps are read when it is drawn and dropped after, the display
// images are kept for the pairs of one neuron (its references repeat) and each image's PNG
// is written the first time a pair shows it.
void figures(const ReportInputs& in, RunResult& result, const StagedOutput& out) {
  const ExplainConfig& c = *in.config;
  const Pairs& pairs = *in.pairs;
  const PairMaps& maps = in.maps;
  std::vector<std::string> image_png(pairs.unique_images.size());
  std::map<int64_t, Rgb> display;  // the current neuron's images
  size_t neuron = SIZE_MAX;
  auto image_file = [&](int64_t img) -> const Rgb& {
    auto it = display.find(img);
    if (it != display.end()) return it->second;
    const Rgb& rgb = display[img] = display_image(maps.image(img), in.model.info);
    std::string& png = image_png[static_cast<size_t>(pairs.unique_of[static_cast<size_t>(img)])];
    if (png.empty()) {
      png = "images/image_" + std::to_string(img) + ".png";
      write_rgb_png(out.file(png), rgb);
    }
    return rgb;
  };
  auto png_of = [&](int64_t img) { return image_png[static_cast<size_t>(pairs.unique_of[static_cast<size_t>(img)])]; };
  std::vector<size_t> pair_of(result.neurons.size(), 0);  // the next pair of each neuron
  for (const PairPlan& pl : pairs.plans) {
    if (pl.neuron != neuron) display.clear();
    neuron = pl.neuron;
    const size_t pi = pair_of[pl.neuron]++;
    PairResult& p = result.neurons[pl.neuron].pairs[pi];
    const std::string stem = "n" + std::to_string(pl.neuron) + "_p" + std::to_string(pi);
    const Rgb& display_ooc = image_file(p.ooc);
    const Rgb& display_ref = image_file(p.ref);
    p.png_ooc_image = png_of(p.ooc);
    p.png_ref_image = png_of(p.ref);
    const auto jo = static_cast<size_t>(2 * pl.cot), jr = jo + 1;  // the pair's two jobs
    const Tensor map_ooc = maps.saliency(jo), map_ref = maps.saliency(jr);
    const PairOverlays ov = pair_overlays(map_ooc, map_ref, display_ooc, display_ref, c.heat);
    p.scale = ov.scale;
    p.ig_gap_ooc = maps.ig_gap.at(jo);
    p.ig_gap_ref = maps.ig_gap.at(jr);
    p.png_ooc = "pairs/" + stem + "_ooc.png";
    p.png_ref = "pairs/" + stem + "_ref.png";
    p.png_pair = "pairs/" + stem + "_pair.png";
    write_rgb_png(out.file(p.png_ooc), ov.a);
    write_rgb_png(out.file(p.png_ref), ov.b);
    write_rgb_png(out.file(p.png_pair), ov.pair);
    p.npy_ooc = "saliency/" + stem + "_ooc.npy";
    p.npy_ref = "saliency/" + stem + "_ref.npy";
    write_npy(out.file(p.npy_ooc), map_ooc.to(DType::F32));
    write_npy(out.file(p.npy_ref), map_ref.to(DType::F32));
    // The panels on the pair's scale (--decomposition-scale pair), or each on its own.
    const double panel_scale = c.decomposition_scale == DecompositionScale::Pair ? ov.scale : 0.0;
    for (size_t d = 0; d < pl.dim_cots.size(); ++d) {
      const auto ko = static_cast<size_t>(2 * pl.dim_cots[d]);
      const PairOverlays dv = pair_overlays_at(maps.saliency(ko), maps.saliency(ko + 1), display_ooc, display_ref,
                                               c.heat, panel_scale);
      DecompositionPanel panel{p.top_dims[d].dim, p.top_dims[d].alpha, dv.scale, dv.own_scale,
                               "pairs/" + stem + "_dim" + std::to_string(p.top_dims[d].dim) + ".png"};
      write_rgb_png(out.file(panel.png), dv.pair);
      p.decomposition.push_back(panel);
    }
  }
}

// readout.safetensors: μ, σ shared when every neuron was fitted on the same images.
void write_readouts(const ReportInputs& in, RunResult& result, const StagedOutput& out) {
  const Readouts& r = *in.readouts;
  const int64_t D = in.data->phi.cols;
  ReadoutFile rf;
  rf.model = in.model.path;
  rf.arch = in.model.arch;
  rf.layer = in.model.layer;
  rf.pool = pool_name(in.config->model.pool);
  const bool shared = r.standardizers.size() <= 1;
  rf.w = Mat(0, D);
  rf.mu = Mat(0, D);
  rf.sigma = Mat(0, D);
  for (const NeuronReadout& w : r.fitted) {
    rf.neurons.push_back(r.neurons[w.neuron].name);
    rf.preferred.push_back(r.neurons[w.neuron].preferred);
    rf.lambda.push_back(w.fit_result.lambda);
    rf.w.v.insert(rf.w.v.end(), w.fit_result.w.begin(), w.fit_result.w.end());
    ++rf.w.rows;
    rf.b.push_back(w.fit_result.b);
    if (!shared || rf.mu.rows == 0) {
      const Standardizer& st = r.st(w);
      rf.mu.v.insert(rf.mu.v.end(), st.mu.begin(), st.mu.end());
      rf.sigma.v.insert(rf.sigma.v.end(), st.sigma.begin(), st.sigma.end());
      ++rf.mu.rows;
      ++rf.sigma.rows;
    }
  }
  if (rf.mu.rows == 0) {  // nothing fitted: keep the file's shapes meaningful
    rf.mu = Mat(1, D);
    rf.sigma = Mat(1, D, 1.0);
  }
  result.readout_file = "readout.safetensors";
  write_readout_file(out.file(result.readout_file), rf);
}

GalleryStyle gallery_style(const ExplainConfig& c, int width) {
  GalleryStyle style;
  style.colormap = colormap_name(c.heat.colormap);
  style.signed_maps = reduce_signed(c.heat.reduce);
  style.decomposition_scale = enum_name(kDecompositionScaleNames, c.decomposition_scale);
  style.smooth_sigma_px = smooth_sigma_px(c.heat, width);
  for (int i = 0; i <= 16; ++i) {
    const auto rgb = colormap_rgb(c.heat.colormap, i / 16.0);
    char buf[16];
    std::snprintf(buf, sizeof buf, "#%02x%02x%02x", static_cast<int>(std::lround(rgb[0] * 255)),
                  static_cast<int>(std::lround(rgb[1] * 255)), static_cast<int>(std::lround(rgb[2] * 255)));
    style.colormap_stops.push_back(buf);
  }
  return style;
}

}  // namespace

PairMaps maps_in_memory(const Maps& maps, const Pairs& pairs) {
  PairMaps m;
  m.saliency = [&maps](size_t job) { return maps.bp.saliency.at(job); };
  m.ig_gap = maps.bp.ig_gap;
  m.image = [&maps, &pairs](int64_t img) {
    const int64_t u = pairs.unique_of.at(static_cast<size_t>(img));
    const Tensor xi = maps.xu.slice0(u, u + 1);
    return xi.reshape({xi.dim(1), xi.dim(2), xi.dim(3)});
  };
  return m;
}

ModelSummary model_summary(const LoadedModel& m) {
  return {m.path, m.model.info.arch, m.layer, m.be->name(), m.model.info};
}

ExplainSummary run_summary(const std::string& out_dir, const RunResult& r, double seconds) {
  ExplainSummary s;
  s.out_dir = out_dir;
  for (const NeuronResult& n : r.neurons) {
    ++s.neurons;
    s.skipped += n.skipped ? 1 : 0;
    s.pairs += static_cast<int>(n.pairs.size());
  }
  s.seconds = seconds;
  return s;
}

RunResult write_report(const ReportInputs& in, const StagedOutput& out) {
  const auto t = std::chrono::steady_clock::now();
  RunResult result = assemble(in);
  figures(in, result, out);
  const int width = in.model.info.input_size;  // the model input's (and every map's) width
  result.inputs["heatmap"] = {{"image_width", width}, {"smooth_sigma_px", smooth_sigma_px(in.config->heat, width)}};
  result.timing = in.timing;
  result.timing["heatmaps"] = since(t);
  write_readouts(in, result, out);
  result.timing["total"] = since(in.started);
  write_results_json(out.file("results.json"), result);
  write_gallery(out.file("index.html"), result, gallery_style(*in.config, width));
  return result;
}

}  // namespace sv
