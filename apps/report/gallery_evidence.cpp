// Faithfulness and randomisation in the gallery (see gallery_evidence.h).
#include "apps/report/gallery_evidence.h"

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "apps/report/evidence_summary.h"
#include "apps/report/number_text.h"
#include "apps/report/svg_plots.h"

namespace sv {

namespace {

const char* method_color(const std::string& m) {
  if (m == "shared") return "#c53030";
  if (m == "gradient") return "#2b6cb0";
  if (m == "ig") return "#2f855a";
  return "#888888";
}

std::string method_label(const std::string& m) {
  if (m == "shared") return "shared map";
  if (m == "gradient") return "gradient of r̂";
  if (m == "ig") return "IG of r̂";
  return "random";
}

// Mean normalised curves of every method, deletion or insertion, against the fraction changed.
std::string curves_plot(const std::vector<FaithSummary>& rows, bool deletion, const std::string& title, int width) {
  std::vector<LineSeries> series;
  for (const FaithSummary& s : rows) {
    const std::vector<double>& c = deletion ? s.deletion_curve : s.insertion_curve;
    LineSeries l{method_label(s.method) + " (" + num(deletion ? s.deletion_auc : s.insertion_auc, 2) + ")",
                 method_color(s.method), {}, s.method == "random"};
    for (size_t k = 0; k < c.size(); ++k)
      l.points.push_back({c.size() > 1 ? static_cast<double>(k) / static_cast<double>(c.size() - 1) : 0.0, c[k]});
    series.push_back(l);
  }
  PlotFrame f;
  f.title = title;
  f.xlabel = deletion ? "fraction of pixels deleted" : "fraction of pixels inserted";
  f.ylabel = "normalised response (mean)";
  f.width = width;
  f.height = 260;
  f.xlim = {0, 1};
  return svg_lines(f, series);
}

void faith_table(std::ostringstream& o, const std::vector<FaithSummary>& rows) {
  o << "<table><tr><th class=l>map</th><th>images</th><th>deletion AUC<br>(lower is better)</th><th>insertion AUC<br>"
       "(higher is better)</th><th>deletion AUC below<br>random's (share)</th><th>insertion AUC above<br>random's "
       "(share)</th></tr>";
  for (const FaithSummary& s : rows)
    o << "<tr><td class=l>" << xml_escape(method_label(s.method)) << "</td><td>" << s.images << "</td><td>"
      << num(s.deletion_auc) << "</td><td>" << num(s.insertion_auc) << "</td><td>" << num(s.deletion_beats_random, 2)
      << "</td><td>" << num(s.insertion_beats_random, 2) << "</td></tr>";
  o << "</table>";
}

std::string randomisation_plot(const std::vector<RandomisationSummary>& rows, const std::string& title) {
  LineSeries rho{"Spearman ρ", "#6b46c1", {{0.0, 1.0}}, false}, ss{"SSIM", "#d9822b", {{0.0, 1.0}}, true};
  for (size_t k = 0; k < rows.size(); ++k) {
    rho.points.push_back({static_cast<double>(k + 1), rows[k].spearman});
    ss.points.push_back({static_cast<double>(k + 1), rows[k].ssim});
  }
  PlotFrame f;
  f.title = title;
  f.xlabel = "weight layers re-drawn (from the top)";
  f.ylabel = "similarity to the original map (mean)";
  f.width = 300;
  f.height = 260;
  f.xlim = {-0.2, static_cast<double>(rows.size()) + 0.2};
  f.ylim = {-0.2, 1.05};
  return svg_lines(f, {rho, ss});
}

void randomisation_table(std::ostringstream& o, const std::vector<RandomisationSummary>& rows) {
  o << "<table><tr><th>stages re-drawn</th><th class=l>down to</th><th>images</th><th>Spearman ρ</th><th>SSIM</th></tr>";
  for (size_t k = 0; k < rows.size(); ++k)
    o << "<tr><td>" << k + 1 << "</td><td class=l><code>" << xml_escape(rows[k].stage) << "</code></td><td>"
      << rows[k].images << "</td><td>" << num(rows[k].spearman) << "</td><td>" << num(rows[k].ssim) << "</td></tr>";
  o << "</table>";
}

void faith_definitions(std::ostringstream& o, const RunResult& r) {
  const auto& f = r.faithfulness;
  o << "<dl class=defs><dt>deletion and insertion curves</dt><dd>For each explained image (every pair's ooc image "
       "and its reference) and each of four maps, the pixels are ranked by the map (its channel reduction before "
       "smoothing, largest first). <i>Deletion</i> replaces the top-ranked pixels by the baseline ("
    << xml_escape(f.value("baseline", std::string("blur"))) << ") in " << f.value("steps", 0)
    << " equal steps, <i>insertion</i> starts from the baseline and puts the image's pixels back in the same order; "
       "at each step the neuron's predicted response r̂ (its readout on the model's features) is recorded.</dd>"
       "<dt>normalised response</dt><dd>(r̂ − r̂<sub>baseline</sub>) / (r̂<sub>image</sub> − "
       "r̂<sub>baseline</sub>): 1 at the intact image, 0 at the baseline, so that neurons of different response "
       "ranges compare. It needs a baseline that lowers the response: an image whose baseline lowers r̂ by less "
       "than half the standard deviation of r̂ over the neuron's fit images (or raises it: a blurred trouser can "
       "drive a trouser neuron more than the trouser) gets no AUC, and the <i>images</i> column counts the images "
       "kept. Its raw curves are in results.json.</dd>"
       "<dt>AUC</dt><dd>The area under the normalised curve over the fraction of pixels changed (trapezoid rule, "
       "0 to 1). A map that finds the pixels the response depends on gives a low deletion AUC and a high insertion "
       "AUC; a random ranking gives about 0.5 when the response is linear in the pixels.</dd>"
       "<dt>the four maps</dt><dd><i>shared map</i>: the pair's shared-feature saliency (the heatmaps below); "
       "<i>gradient of r̂</i>: the plain input gradient of the neuron's predicted response; <i>IG of r̂</i>: its "
       "Integrated Gradients (the run's <code>--steps</code>, <code>--ig-rule</code> and <code>--baseline</code>); "
       "<i>random</i>: a random ranking of the pixels, seeded "
    << xml_escape(f.value("random_ranking_seed", std::string())) << ".</dd>"
    << "<dt>share below / above random's</dt><dd>The fraction of images on which the map's deletion AUC is lower "
       "(insertion AUC higher) than the random ranking's on the same image.</dd></dl>";
}

}  // namespace

void evidence_summary_html(std::ostringstream& o, const RunResult& r) {
  const std::vector<const NeuronResult*> all = fitted_neurons(r);
  if (!r.faithfulness.is_null()) {
    const std::vector<FaithSummary> rows = faith_summary(all);
    o << "<h3>Faithfulness: do the maps find what the neuron's model responds to?</h3><div class=plots>"
      << curves_plot(rows, true, "deletion, all neurons", 320) << curves_plot(rows, false, "insertion, all neurons", 320)
      << "</div><div class=muted>Over all neurons (legend: the mean AUC).</div>";
    faith_table(o, rows);
    o << "<table><tr><th class=l>neuron</th><th>images with AUCs<br>(of explained)</th>";
    for (const FaithSummary& s : rows) o << "<th>" << xml_escape(method_label(s.method)) << "<br>deletion / insertion</th>";
    o << "</tr>";
    for (const NeuronResult* n : all) {
      const std::vector<FaithSummary> own = faith_summary({n});
      o << "<tr><td class=l>" << xml_escape(n->name) << (n->flags.empty() ? "" : " (flagged)") << "</td><td>"
        << (own.empty() ? 0 : own.front().images) << " (" << 2 * n->pairs.size() << ")</td>";
      for (const FaithSummary& s : own) o << "<td>" << num(s.deletion_auc) << " / " << num(s.insertion_auc) << "</td>";
      o << "</tr>";
    }
    o << "</table>";
    faith_definitions(o, r);
  }
  if (!r.randomisation.is_null()) {
    const std::vector<RandomisationSummary> rows = randomisation_summary(all);
    o << "<h3>Model randomisation: do the maps depend on the weights?</h3><div class=plots>"
      << randomisation_plot(rows, "shared maps, all neurons") << "</div>";
    randomisation_table(o, rows);
    o << "<dl class=defs><dt>randomisation stages</dt><dd>The network's weight layers (a convolution or linear layer "
         "with its batchnorm) that the readout layer depends on are re-drawn from the top down, cumulatively: stage k "
         "has the k top-most re-drawn. The new values are the project's portable initialisation (Kaiming-uniform) "
         "with seed "
      << r.randomisation.value("seed", 0) << ". The readout, α and the cotangents stay as they were; the shared maps "
         "are recomputed.</dd><dt>Spearman ρ</dt><dd>The rank correlation over all pixels between the original and "
         "the recomputed map (their channel reductions, before smoothing; ties get mean ranks).</dd><dt>SSIM</dt>"
         "<dd>The structural similarity of the two maps, each divided by its largest |value|, averaged over every 7×7 "
         "window (C1 = 0.01², C2 = 0.03²). A map that stays similar (ρ and SSIM near 1) while the weights are random "
         "says little about the model; values near 0 mean the map depends on the weights.</dd></dl>";
  }
}

void neuron_evidence_html(std::ostringstream& o, const RunResult& r, const NeuronResult& n) {
  if (n.pairs.empty()) return;
  if (!r.faithfulness.is_null()) {
    const std::vector<FaithSummary> rows = faith_summary({&n});
    o << "<details><summary>faithfulness of this neuron's maps (" << n.pairs.size() * 2
      << " images)</summary><div class=plots>" << curves_plot(rows, true, "deletion", 300)
      << curves_plot(rows, false, "insertion", 300) << "</div>";
    faith_table(o, rows);
    o << "</details>";
  }
  if (!r.randomisation.is_null()) {
    const std::vector<RandomisationSummary> rows = randomisation_summary({&n});
    o << "<details><summary>model randomisation of this neuron's shared maps</summary><div class=plots>"
      << randomisation_plot(rows, "shared maps") << "</div>";
    randomisation_table(o, rows);
    o << "</details>";
  }
}

}  // namespace sv
