// The HTML gallery.
#include "apps/report/gallery.h"

#include <cmath>
#include <cstdio>
#include <sstream>

#include "apps/io/atomic_file.h"
#include "apps/report/svg_plots.h"

namespace sv {

namespace {

std::string num(double v, int prec = 3) {
  if (!std::isfinite(v)) return "–";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", prec, v);
  return buf;
}

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
.choices{display:flex;flex-wrap:wrap;gap:4px 14px;font-size:12px;color:#444}.choices b{color:#222;font-weight:600}
)";

void summary_table(std::ostringstream& o, const RunResult& r) {
  o << "<table><tr><th class=l>neuron</th><th class=l>preferred</th><th>λ</th><th>r within (CV)</th><th>r ooc</th>"
       "<th>reliability</th><th>mean ooc / mean</th><th>pairs</th></tr>";
  for (size_t i = 0; i < r.neurons.size(); ++i) {
    const NeuronResult& n = r.neurons[i];
    o << "<tr><td class=l><a href=\"#" << anchor(i) << "\">" << esc(n.name) << "</a></td><td class=l>"
      << esc(n.preferred) << "</td>";
    if (n.skipped) {
      o << "<td class=\"l skipped\" colspan=6>skipped: " << esc(n.skip_reason) << "</td></tr>";
      continue;
    }
    const double rel = std::isfinite(n.mean_all) && n.mean_all != 0 ? n.mean_ooc / n.mean_all : NAN;
    o << "<td>" << sci(n.lambda) << "</td><td>" << num(n.r_within) << "</td><td>" << num(n.r_ooc) << "</td><td>"
      << num(n.reliability) << "</td><td>" << num(rel, 2) << "</td><td>" << n.pairs.size() << "</td></tr>";
  }
  o << "</table>";
}

void summary_plots(std::ostringstream& o, const RunResult& r) {
  o << "<div class=plots>";
  // Fig. 3a: predicted vs recorded, one small plot per neuron.
  for (size_t i = 0; i < r.neurons.size(); ++i) {
    const NeuronResult& n = r.neurons[i];
    if (n.skipped) continue;
    PlotFrame f;
    f.title = n.name;
    f.xlabel = "recorded response";
    f.ylabel = "predicted response";
    f.width = 260;
    f.height = 240;
    f.diagonal = true;
    f.square = true;
    o << svg_scatter(f, {{"within (r " + num(n.r_within, 2) + ")", "#2b6cb0", n.within_points, {}},
                         {"ooc (r " + num(n.r_ooc, 2) + ")", "#d9822b", n.ooc_points, {}}});
  }
  // r_within vs r_ooc across neurons.
  ScatterSeries rs{"", "#6b46c1", {}, {}};
  std::vector<std::string> names;
  std::vector<double> rel;
  for (const NeuronResult& n : r.neurons) {
    if (n.skipped) continue;
    rs.points.push_back({n.r_within, n.r_ooc});
    rs.texts.push_back(short_name(n.name));
    names.push_back(short_name(n.name));
    rel.push_back(std::isfinite(n.mean_all) && n.mean_all != 0 ? n.mean_ooc / n.mean_all : NAN);
  }
  PlotFrame f;
  f.title = "model fit across neurons";
  f.xlabel = "r within (out-of-fold)";
  f.ylabel = "r ooc";
  f.width = 300;
  f.height = 260;
  f.diagonal = true;
  f.xlim = {-0.1, 1.05};
  f.ylim = {-0.1, 1.05};
  for (const auto& p : rs.points)
    if ((std::isfinite(p[0]) && p[0] < -0.1) || (std::isfinite(p[1]) && p[1] < -0.1)) f.xlim = f.ylim = {-1.05, 1.05};
  o << svg_scatter(f, {rs});
  PlotFrame b;
  b.title = "mean ooc response / mean response";
  b.ylabel = "ratio";
  b.width = std::max(260, 40 * static_cast<int>(names.size()) + 70);
  b.height = 280;
  o << svg_bars(b, names, rel, 1.0);
  o << "</div>";
}

void image_side(std::ostringstream& o, const RunResult& r, const char* role, int64_t image, const std::string& png_image,
                const std::string& png_overlay, double recorded, double predicted) {
  const ImageInfo& im = r.images[static_cast<size_t>(image)];
  o << "<div class=side><div class=lbl>" << role << " · " << esc(im.category) << "</div><div class=imgs><img src=\""
    << esc(png_image) << "\" alt=\"" << role << " image\" title=\"" << esc(im.id) << "\"><img src=\"" << esc(png_overlay)
    << "\" alt=\"" << role << " heatmap\"></div><div class=resp>recorded " << num(recorded) << " · predicted "
    << num(predicted) << "</div><div class=muted>" << esc(im.id) << "</div></div>";
}

void pair_block(std::ostringstream& o, const RunResult& r, const NeuronResult& n, size_t k, const PairResult& p) {
  o << "<div class=pair>";
  image_side(o, r, "ooc", p.ooc, p.png_ooc_image, p.png_ooc, p.ooc_recorded, p.ooc_predicted);
  image_side(o, r, "reference", p.ref, p.png_ref_image, p.png_ref, p.ref_recorded, p.ref_predicted);
  o << "<div class=info><b>" << esc(n.name) << ", pair " << k + 1 << "</b><br>similarity " << num(p.similarity)
    << "<br>shared response R<sub>α</sub>: ooc " << sci(p.shared_ooc) << ", reference " << sci(p.shared_ref)
    << "<br>shared dims (α &gt; 0): " << p.shared_dims;
  if (!p.top_dims.empty()) {
    o << "<br>top dims:";
    for (const SharedDim& d : p.top_dims) o << " #" << d.dim << " (" << num(100 * d.alpha, 1) << "%)";
    o << " = " << num(100 * p.top_share, 1) << "% of Σ|α|";
  }
  if (p.alpha_l1 == 0) o << "<br><span class=skipped>no dimension is shared: the heatmaps are empty</span>";
  if (std::isfinite(p.ig_gap_ooc))
    o << "<br>IG completeness gap: ooc " << num(p.ig_gap_ooc, 4) << ", reference " << num(p.ig_gap_ref, 4);
  if (!p.candidates.empty()) {
    o << "<br>reference candidates:";
    for (const ReferenceCandidate& c : p.candidates) o << " " << esc(r.images[static_cast<size_t>(c.image)].id) << " (" << num(c.score) << ");";
  }
  o << "<br><a href=\"" << esc(p.png_pair) << "\">pair PNG</a> · saliency <a href=\"" << esc(p.npy_ooc)
    << "\">ooc .npy</a>, <a href=\"" << esc(p.npy_ref) << "\">reference .npy</a></div>";
  if (!p.decomposition.empty()) {
    o << "<div><div class=lbl>per-dimension decomposition α<sub>d</sub> ∂c<sub>d</sub>/∂x (ooc | reference)</div>"
         "<div class=decomp>";
    for (const DecompositionPanel& d : p.decomposition)
      o << "<figure><img src=\"" << esc(d.png) << "\" alt=\"dim " << d.dim << "\"><figcaption>dim #" << d.dim << " · "
        << num(100 * d.alpha, 1) << "% of Σ|α|</figcaption></figure>";
    o << "</div></div>";
  }
  o << "</div>";
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
  o << "<h3>Choices</h3><div class=choices>";
  for (const auto& [k, v] : r.choices.items())
    o << "<span><b>" << esc(k) << "</b> " << esc(v.is_string() ? v.get<std::string>() : v.dump()) << "</span>";
  o << "</div><div style=\"margin-top:8px\">" << svg_colorbar(style.colormap_stops, style.signed_maps ? "−1" : "0", "1")
    << " <span class=muted>heatmap colour (" << esc(style.colormap)
    << "): both maps of a pair share one scale, the percentile of their union</span></div>";
  for (size_t i = 0; i < r.neurons.size(); ++i) {
    const NeuronResult& n = r.neurons[i];
    o << "<h2 id=\"" << anchor(i) << "\">" << esc(n.name) << " <span class=muted>preferred: " << esc(n.preferred)
      << "</span></h2>";
    if (n.skipped) {
      o << "<p class=skipped>Skipped: " << esc(n.skip_reason) << "</p>";
      continue;
    }
    o << "<div class=muted>λ " << sci(n.lambda) << " · r within " << num(n.r_within) << " · r ooc " << num(n.r_ooc)
      << " · reliability " << num(n.reliability) << " · fitted on " << n.n_fit << " images · " << n.n_ooc
      << " ooc images</div>";
    if (n.pairs.empty()) o << "<p class=muted>No ooc images to explain.</p>";
    for (size_t k = 0; k < n.pairs.size(); ++k) pair_block(o, r, n, k, n.pairs[k]);
  }
  o << "</body></html>\n";
  return o.str();
}

void write_gallery(const std::string& path, const RunResult& r, const GalleryStyle& style) {
  const std::string html = gallery_html(r, style);
  write_file_atomic(path, {{html.data(), html.size()}});
}

}  // namespace sv
