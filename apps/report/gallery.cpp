// The HTML gallery.
#include "apps/report/gallery.h"

#include <cmath>
#include <cstdio>
#include <sstream>

#include "weights/atomic_file.h"
#include "apps/report/gallery_evidence.h"
#include "apps/report/readout_labels.h"
#include "apps/report/number_text.h"
#include "apps/report/svg_plots.h"

namespace sv {

namespace {

std::string sci(double v) {
  if (!std::isfinite(v)) return "–";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

std::string esc(const std::string& s) { return xml_escape(s); }

// "synthetic Ankle boot" -> "Ankle boot": plot labels need no prefix.
std::string short_name(const std::string& name) {
  const std::string prefix = "synthetic ";
  return name.rfind(prefix, 0) == 0 ? name.substr(prefix.size()) : name;
}

std::string anchor(size_t i) { return "neuron-" + std::to_string(i); }

const char* kCss = R"(
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:24px;color:#222;max-width:1400px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 6px;border-bottom:1px solid #ccc;padding-bottom:4px}
h3{font-size:14px;margin:14px 0 6px}.muted{color:#666;font-size:13px}
.plots{display:flex;flex-wrap:wrap;gap:10px;align-items:flex-start}.plots svg{border:1px solid #ddd}
table{border-collapse:collapse;font-size:13px;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}
th{background:#f4f4f4}td.l,th.l{text-align:left}
.pair{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start;border:1px solid #ddd;border-radius:6px;padding:10px;margin:10px 0}
.side{display:flex;flex-direction:column;align-items:center;gap:4px}.side img{display:block;border:1px solid #bbb}
.imgs{display:flex;gap:4px}.lbl{font-size:13px;font-weight:bold}.resp{font-size:12px;color:#333}
.info{font-size:12px;max-width:360px;line-height:1.5}.decomp{display:flex;flex-wrap:wrap;gap:10px}
.decomp figure{margin:0;text-align:center;font-size:11px}.decomp img{border:1px solid #bbb;display:block}
.skipped{color:#a33}code{font-size:12px}
.flag{border:2px solid #c53030;background:#fff5f5;border-radius:6px;padding:6px 10px;margin:8px 0;font-size:13px}
.flag ul{margin:4px 0;padding-left:20px}details.notevidence{width:100%;font-size:12px;color:#a33}
details.notevidence img{display:block;margin:6px 0;border:1px solid #bbb;opacity:0.8}
dl.defs{font-size:12px;max-width:1100px}dl.defs dt{font-weight:600;margin-top:4px}dl.defs dd{margin:0 0 0 16px}
.choices{display:flex;flex-wrap:wrap;gap:4px 14px;font-size:12px;color:#444}.choices b{color:#222;font-weight:600}
)";

// The r values a run reports for its neurons, by kind (the same for every neuron of a run:
// --fit-on is one choice): the key of the ooc r the cross-neuron plot shows.
bool ooc_fitted_on(const RunResult& r) {
  for (const NeuronResult& n : r.neurons)
    if (!n.skipped && n.n_ooc_oof > 0) return true;
  return false;
}

bool any_mean_ratio(const RunResult& r) {
  for (const NeuronResult& n : r.neurons)
    if (!n.skipped && std::isfinite(n.mean_ratio)) return true;
  return false;
}

std::string flag_codes(const NeuronResult& n) {
  std::string s;
  for (const ReadoutFlagResult& f : n.flags) s += (s.empty() ? "" : ", ") + f.code;
  return s;
}

std::string r_cell(const LabelledR& x) {
  std::string title = x.label + (x.absent.empty() ? "" : ". Not given: " + x.absent);
  return "<td title=\"" + esc(title) + "\">" + num(x.value) + "</td>";
}

void summary_table(std::ostringstream& o, const RunResult& r) {
  const bool oof = ooc_fitted_on(r), ratio = any_mean_ratio(r);
  o << "<table><tr><th class=l>neuron</th><th class=l>preferred</th><th>λ</th><th>r CV<br>(per-fold mean)</th>"
       "<th>r within<br>(pooled out-of-fold)</th><th>r ooc<br>(held-out)</th>";
  if (oof) o << "<th>r ooc<br>(pooled out-of-fold)</th>";
  o << "<th>reliability</th><th>ooc share of<br>top-K responses (chance)</th><th>top ooc responses:<br>percentile "
       "in preferred</th>";
  if (ratio) o << "<th>mean ooc / mean</th>";
  o << "<th class=l>readout</th><th>pairs</th></tr>";
  const int cols = 9 + (oof ? 1 : 0) + (ratio ? 1 : 0);
  for (size_t i = 0; i < r.neurons.size(); ++i) {
    const NeuronResult& n = r.neurons[i];
    o << "<tr><td class=l><a href=\"#" << anchor(i) << "\">" << esc(n.name) << "</a></td><td class=l>"
      << esc(n.preferred) << "</td>";
    if (n.skipped) {
      o << "<td class=\"l skipped\" colspan=" << cols << ">skipped: " << esc(n.skip_reason) << "</td></tr>";
      continue;
    }
    o << "<td>" << sci(n.lambda) << "</td>";
    for (const LabelledR& x : readout_rs(n))
      if (x.key != "ooc_out_of_fold" || oof) o << r_cell(x);
    if (oof && n.n_ooc_oof == 0) o << "<td>–</td>";
    o << "<td>" << num(n.reliability) << "</td><td>" << num(n.top_ooc_share) << " (" << num(n.chance_share, 2)
      << ")</td><td>" << num(n.top_ooc_percentile, 1) << "</td>";
    if (ratio) o << "<td>" << num(n.mean_ratio, 2) << "</td>";
    if (n.flags.empty())
      o << "<td class=l>ok</td>";
    else
      o << "<td class=\"l skipped\"><a href=\"#" << anchor(i) << "\">flagged</a>: " << esc(flag_codes(n)) << "</td>";
    o << "<td>" << n.pairs.size() << "</td></tr>";
  }
  o << "</table>";
}

// What every number of the summary is: the definitions the table and plots refer to.
void definitions(std::ostringstream& o, const RunResult& r, const GalleryStyle& style) {
  const bool ratio = any_mean_ratio(r);
  o << "<h3>What the numbers are</h3><dl class=defs>"
       "<dt>r CV (per-fold mean)</dt><dd>The mean over the cross-validation folds of each fold's Pearson r between "
       "recorded responses and the predictions of the readout fitted on the other folds, over the fit images, at the "
       "chosen λ. It is the score that chose λ, so it is slightly optimistic.</dd>"
       "<dt>r within (pooled out-of-fold)</dt><dd>One Pearson r over all preferred images, each predicted by the "
       "readout of the folds that left it out (the Fig. 3a within scatter).</dd>"
       "<dt>r ooc (held-out)</dt><dd>Pearson r over the ooc images outside the readout's fit set, predicted by the "
       "final readout, which never saw them (the Fig. 3a ooc scatter). With <code>--fit-on all</code> there are no "
       "such images and it is not given.</dd>";
  if (ooc_fitted_on(r))
    o << "<dt>r ooc (pooled out-of-fold)</dt><dd>With <code>--fit-on all</code>: Pearson r over the ooc images, each "
         "predicted by the readout of the folds that left it out. λ was chosen on these folds and the final readout "
         "(whose maps are drawn) was fitted on these images; the Fig. 3a ooc scatter shows these predictions.</dd>";
  o << "<dt>ooc share of the top-K responses</dt><dd>K is the number of preferred-category images. Among the "
       "neuron's K highest responses over all analysed images, the fraction that are to ooc images: 0 when every "
       "top response is to the preferred category; the chance value in brackets (n<sub>ooc</sub> / n) when the "
       "response ignores the category. It does not change when the responses are shifted or scaled.</dd>"
       "<dt>top ooc responses: percentile in preferred</dt><dd>For each of the neuron's top ooc images (by recorded "
       "response: the ones explained below), its percentile rank among the preferred images' responses "
       "(100 · (#below + #equal / 2) / n<sub>preferred</sub>), averaged. 50: as strong as the median preferred "
       "image; 100: stronger than all of them.</dd>";
  if (ratio)
    o << "<dt>mean ooc / mean</dt><dd>The paper's Fig. 3b ratio, shown only for neurons whose responses are all "
         "non-negative (firing rates); for signed responses it has no meaning and is left out.</dd>";
  o << "<dt>readout flagged</dt><dd>λ on the edge of the searched grid (<code>lambda_at_upper_edge</code>: no "
       "signal found, the most regularised readout won; <code>lambda_at_lower_edge</code>: the CV optimum may lie "
       "below the grid), or predictions near-constant (<code>near_constant_predictions</code>: their standard "
       "deviation is below 1% of the responses'). The neuron's section gives the reason and the remedy; its maps are "
       "folded away and are not evidence.</dd>"
       "<dt>heatmap scale</dt><dd>Both maps of a pair are divided by one scale, the clip percentile of their union. ";
  if (style.decomposition_scale == "pair")
    o << "The per-dimension decomposition panels of a pair are drawn on the same scale as the pair's shared map, so "
         "their colours compare with it and with each other (values above it are clipped).";
  else
    o << "Each per-dimension decomposition panel has its own scale (<code>--decomposition-scale panel</code>): its "
         "colours do not compare with the pair's map or with the other panels.";
  o << " Every scale is in results.json. The maps are smoothed with a Gaussian of σ = "
    << num(style.smooth_sigma_px, 2)
    << " input pixels before they are upsampled for display.</dd></dl>";
}

void summary_plots(std::ostringstream& o, const RunResult& r) {
  const bool oof = ooc_fitted_on(r);
  o << "<div class=plots>";
  // Fig. 3a: predicted vs recorded, one small plot per neuron.
  for (size_t i = 0; i < r.neurons.size(); ++i) {
    const NeuronResult& n = r.neurons[i];
    if (n.skipped) continue;
    PlotFrame f;
    f.title = n.name + (n.flags.empty() ? "" : " (flagged)");
    f.xlabel = "recorded response";
    f.ylabel = "predicted response";
    f.width = 260;
    f.height = 240;
    f.diagonal = true;
    f.square = true;
    const std::string ooc_label = n.n_ooc_held_out > 0 ? "ooc (held-out r " + num(n.r_ooc, 2) + ")"
                                                        : "ooc (out-of-fold r " + num(n.r_ooc_oof, 2) + ")";
    o << svg_scatter(f, {{"within (out-of-fold r " + num(n.r_within, 2) + ")", "#2b6cb0", n.within_points, {}},
                         {ooc_label, "#d9822b", n.ooc_points, {}}});
  }
  // r_within vs r_ooc across neurons.
  ScatterSeries rs{"", "#6b46c1", {}, {}};
  std::vector<std::string> names;
  std::vector<double> share, pct, ratio, chance;
  for (const NeuronResult& n : r.neurons) {
    if (n.skipped) continue;
    rs.points.push_back({n.r_within, oof ? n.r_ooc_oof : n.r_ooc});
    rs.texts.push_back(short_name(n.name));
    names.push_back(short_name(n.name));
    share.push_back(n.top_ooc_share);
    chance.push_back(n.chance_share);
    pct.push_back(n.top_ooc_percentile);
    ratio.push_back(n.mean_ratio);
  }
  PlotFrame f;
  f.title = "model fit across neurons";
  f.xlabel = "r within (pooled out-of-fold)";
  f.ylabel = oof ? "r ooc (pooled out-of-fold)" : "r ooc (held-out)";
  f.width = 300;
  f.height = 260;
  f.diagonal = true;
  f.xlim = {-0.1, 1.05};
  f.ylim = {-0.1, 1.05};
  for (const auto& p : rs.points)
    if ((std::isfinite(p[0]) && p[0] < -0.1) || (std::isfinite(p[1]) && p[1] < -0.1)) f.xlim = f.ylim = {-1.05, 1.05};
  o << svg_scatter(f, {rs});
  const int bar_width = std::max(260, 40 * static_cast<int>(names.size()) + 70);
  PlotFrame b;
  b.title = "ooc share of the top-K responses";
  // The chance share as a reference line when every neuron has the same one.
  bool one_chance = !chance.empty();
  for (double c : chance) one_chance = one_chance && std::abs(c - chance[0]) < 1e-3;
  b.ylabel = one_chance ? "share (K = n preferred; dashed: chance)" : "share (K = n preferred)";
  b.width = bar_width;
  b.height = 280;
  b.ylim = {0, 1};
  o << svg_bars(b, names, share, one_chance ? chance[0] : NAN);
  PlotFrame c;
  c.title = "top ooc responses among the preferred";
  c.ylabel = "percentile (50: median preferred)";
  c.width = bar_width;
  c.height = 280;
  c.ylim = {0, 100};
  o << svg_bars(c, names, pct, 50.0);
  if (any_mean_ratio(r)) {
    PlotFrame d;
    d.title = "mean ooc response / mean response";
    d.ylabel = "ratio (non-negative responses only)";
    d.width = bar_width;
    d.height = 280;
    o << svg_bars(d, names, ratio, 1.0);
  }
  o << "</div>";
}

void image_side(std::ostringstream& o, const RunResult& r, const char* role, int64_t image, const std::string& png_image,
                const std::string& png_overlay, double recorded, double predicted, bool in_sample,
                double percentile) {
  const ImageInfo& im = r.images[static_cast<size_t>(image)];
  o << "<div class=side><div class=lbl>" << role << " · " << esc(im.category) << "</div><div class=imgs><img src=\""
    << esc(png_image) << "\" alt=\"" << role << " image\" title=\"" << esc(im.id) << "\">";
  if (!png_overlay.empty()) o << "<img src=\"" << esc(png_overlay) << "\" alt=\"" << role << " heatmap\">";
  o << "</div><div class=resp>recorded " << num(recorded) << " · predicted " << num(predicted)
    << (in_sample ? " (fitted on it)" : " (held out)") << "</div>";
  if (std::isfinite(percentile))
    o << "<div class=resp>percentile among the preferred responses: " << num(percentile, 1) << "</div>";
  o << "<div class=muted>" << esc(im.id) << "</div></div>";
}

void decomposition_panels(std::ostringstream& o, const PairResult& p, const GalleryStyle& style) {
  if (p.decomposition.empty()) return;
  o << "<div><div class=lbl>per-dimension decomposition α<sub>d</sub> ∂c<sub>d</sub>/∂x (ooc | reference), "
    << (style.decomposition_scale == "pair" ? "on the pair's scale " + sci(p.scale)
                                            : std::string("each on its own scale"))
    << "</div><div class=decomp>";
  for (const DecompositionPanel& d : p.decomposition)
    o << "<figure><img src=\"" << esc(d.png) << "\" alt=\"dim " << d.dim << "\"><figcaption>dim #" << d.dim << " · "
      << num(100 * d.alpha, 1) << "% of Σ|α| · scale " << sci(d.scale) << " (own " << sci(d.own_scale)
      << ")</figcaption></figure>";
  o << "</div></div>";
}

void pair_block(std::ostringstream& o, const RunResult& r, const NeuronResult& n, size_t k, const PairResult& p,
                const GalleryStyle& style) {
  const bool evidence = n.maps_are_evidence();
  o << "<div class=pair>";
  image_side(o, r, "ooc", p.ooc, p.png_ooc_image, evidence ? p.png_ooc : "", p.ooc_recorded, p.ooc_predicted,
             p.ooc_fitted, p.ooc_percentile);
  image_side(o, r, "reference", p.ref, p.png_ref_image, evidence ? p.png_ref : "", p.ref_recorded, p.ref_predicted,
             true, NAN);
  o << "<div class=info><b>" << esc(n.name) << ", pair " << k + 1 << "</b><br>similarity " << num(p.similarity)
    << "<br>shared response R<sub>α</sub>: ooc " << sci(p.shared_ooc) << ", reference " << sci(p.shared_ref)
    << "<br>shared dims (α &gt; 0): " << p.shared_dims;
  if (!p.top_dims.empty()) {
    o << "<br>top dims:";
    for (const SharedDim& d : p.top_dims) o << " #" << d.dim << " (" << num(100 * d.alpha, 1) << "%)";
    o << " = " << num(100 * p.top_share, 1) << "% of Σ|α|";
  }
  if (p.alpha_l1 == 0) o << "<br><span class=skipped>no dimension is shared: the heatmaps are empty</span>";
  o << "<br>heatmap scale " << sci(p.scale);
  if (std::isfinite(p.ig_gap_ooc))
    o << "<br>IG completeness gap: ooc " << num(p.ig_gap_ooc, 4) << ", reference " << num(p.ig_gap_ref, 4);
  if (!p.candidates.empty()) {
    o << "<br>reference candidates:";
    for (const ReferenceCandidate& c : p.candidates) o << " " << esc(r.images[static_cast<size_t>(c.image)].id) << " (" << num(c.score) << ");";
  }
  o << "<br><a href=\"" << esc(p.png_pair) << "\">pair PNG</a> · saliency <a href=\"" << esc(p.npy_ooc)
    << "\">ooc .npy</a>, <a href=\"" << esc(p.npy_ref) << "\">reference .npy</a></div>";
  if (evidence) {
    decomposition_panels(o, p, style);
  } else {
    o << "<details class=notevidence><summary>heatmaps of a flagged readout: not evidence (see the flags above)"
         "</summary><img src=\""
      << esc(p.png_pair) << "\" alt=\"pair heatmaps (flagged readout)\">";
    decomposition_panels(o, p, style);
    o << "</details>";
  }
  o << "</div>";
}

void neuron_header(std::ostringstream& o, const NeuronResult& n) {
  o << "<div class=muted>λ " << sci(n.lambda);
  for (const LabelledR& x : readout_rs(n)) {
    o << " · <span title=\"" << esc(x.label) << "\">" << esc(x.header) << " ";
    if (x.absent.empty() || std::isfinite(x.value))
      o << num(x.value) << "</span>";
    else
      o << "not given</span> (" << esc(x.absent) << ")";
  }
  o << " · reliability " << num(n.reliability) << " · fitted on " << n.n_fit << " images · " << n.n_ooc
    << " ooc images · ooc share of the top " << n.top_k << " responses " << num(n.top_ooc_share) << " (chance "
    << num(n.chance_share, 2) << ") · top ooc percentile in preferred " << num(n.top_ooc_percentile, 1) << "</div>";
  if (!n.flags.empty()) {
    o << "<div class=flag><b>Readout flagged: its maps are not evidence.</b> sd(predictions) / sd(responses) over "
         "the fit images: "
      << sci(n.prediction_sd_ratio) << " (out-of-fold predictions: " << sci(n.oof_sd_ratio) << ").<ul>";
    for (const ReadoutFlagResult& f : n.flags)
      o << "<li><code>" << esc(f.code) << "</code>: " << esc(f.reason) << ". <b>Remedy:</b> " << esc(f.remedy)
        << ".</li>";
    o << "</ul></div>";
  }
}

}  // namespace

std::string gallery_html(const RunResult& r, const GalleryStyle& style) {
  std::ostringstream o;
  o << "<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>" << esc(r.title) << "</title><style>" << kCss
    << "</style></head><body>";
  o << "<h1>" << esc(r.title) << "</h1><div class=muted>Shared-feature visualization by parallel backpropagation. "
    << "Every number is in <a href=\"results.json\">results.json</a>; the readouts are in <a href=\""
    << esc(r.readout_file) << "\">" << esc(r.readout_file) << "</a>.</div>";
  o << "<h2>Summary</h2>";
  summary_plots(o, r);
  summary_table(o, r);
  definitions(o, r, style);
  o << "<h3>Choices</h3><div class=choices>";
  for (const auto& [k, v] : r.choices.items())
    o << "<span><b>" << esc(k) << "</b> " << esc(v.is_string() ? v.get<std::string>() : v.dump()) << "</span>";
  o << "</div><div style=\"margin-top:8px\">" << svg_colorbar(style.colormap_stops, style.signed_maps ? "−1" : "0", "1")
    << " <span class=muted>heatmap colour (" << esc(style.colormap)
    << "): both maps of a pair share one scale, the percentile of their union; "
    << (style.decomposition_scale == "pair" ? "its decomposition panels are drawn on the same scale"
                                            : "each decomposition panel has its own scale")
    << "</span></div>";
  evidence_summary_html(o, r);
  for (size_t i = 0; i < r.neurons.size(); ++i) {
    const NeuronResult& n = r.neurons[i];
    o << "<h2 id=\"" << anchor(i) << "\">" << esc(n.name) << " <span class=muted>preferred: " << esc(n.preferred)
      << "</span></h2>";
    if (n.skipped) {
      o << "<p class=skipped>Skipped: " << esc(n.skip_reason) << "</p>";
      continue;
    }
    neuron_header(o, n);
    neuron_evidence_html(o, r, n);
    if (n.pairs.empty()) o << "<p class=muted>No ooc images to explain.</p>";
    for (size_t k = 0; k < n.pairs.size(); ++k) pair_block(o, r, n, k, n.pairs[k], style);
  }
  o << "</body></html>\n";
  return o.str();
}

void write_gallery(const std::string& path, const RunResult& r, const GalleryStyle& style) {
  const std::string html = gallery_html(r, style);
  write_file_atomic(path, {{html.data(), html.size()}});
}

}  // namespace sv
