// Small self-contained SVG plots for the gallery: scatter plots with axes, ticks,
// legends and optional point labels, and bar charts. No scripts, no external fonts.
#pragma once
#include <array>
#include <string>
#include <vector>

namespace sv {

struct ScatterSeries {
  std::string label;   // legend entry
  std::string color;   // CSS colour
  std::vector<std::array<double, 2>> points;
  std::vector<std::string> texts;  // optional, one per point, drawn next to it
};

struct PlotFrame {
  std::string title, xlabel, ylabel;
  int width = 320, height = 280;
  bool diagonal = false;        // draw y = x
  bool square = false;          // same range on both axes
  std::array<double, 2> xlim{0, 0}, ylim{0, 0};  // fixed ranges when lo < hi
};

std::string svg_scatter(const PlotFrame& f, const std::vector<ScatterSeries>& series);
// One bar per label, a horizontal reference line at `reference` (NaN: none); f.ylim, when
// set, fixes the value axis.
std::string svg_bars(const PlotFrame& f, const std::vector<std::string>& labels, const std::vector<double>& values,
                     double reference);
struct LineSeries {
  std::string label;   // legend entry
  std::string color;   // CSS colour
  std::vector<std::array<double, 2>> points;  // joined in order; a non-finite point breaks the line
  bool dashed = false;
};
// Lines with markers, axes, ticks and a legend (f.xlim / f.ylim fix the ranges when set).
std::string svg_lines(const PlotFrame& f, const std::vector<LineSeries>& series);

// A horizontal colour bar from 0 to 1 with the given colours (evenly spaced stops).
std::string svg_colorbar(const std::vector<std::string>& stops, const std::string& left, const std::string& right,
                         int width = 240);

// HTML/XML escaping of text.
std::string xml_escape(const std::string& s);

}  // namespace sv
