// SVG scatter and bar plots.
#include "apps/report/svg_plots.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace sv {

namespace {

std::string fmt(double v, int prec = 2) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", prec, v);
  return buf;
}

std::string tick_text(double v, double step) {
  const int prec = step >= 1 ? 0 : std::min(6, static_cast<int>(std::ceil(-std::log10(step))));
  if (std::abs(v) < step * 1e-6) v = 0;
  return fmt(v, prec);
}

// "Nice" tick step for a range: 1, 2 or 5 times a power of ten, about 5 ticks.
double nice_step(double lo, double hi) {
  const double span = hi - lo;
  if (!(span > 0)) return 1;
  const double raw = span / 5;
  const double p = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * p >= raw) return m * p;
  return 10 * p;
}

void data_range(const std::vector<ScatterSeries>& series, int axis, double& lo, double& hi) {
  lo = INFINITY;
  hi = -INFINITY;
  for (const auto& s : series)
    for (const auto& p : s.points)
      if (std::isfinite(p[static_cast<size_t>(axis)])) {
        lo = std::min(lo, p[static_cast<size_t>(axis)]);
        hi = std::max(hi, p[static_cast<size_t>(axis)]);
      }
  if (!std::isfinite(lo)) lo = 0, hi = 1;
  if (hi - lo < 1e-12) lo -= 0.5, hi += 0.5;
  const double pad = 0.05 * (hi - lo);
  lo -= pad;
  hi += pad;
}

struct Axes {
  double x0, x1, y0, y1;    // data ranges
  double left, right, top, bottom;  // pixel box
  double px(double x) const { return left + (x - x0) / (x1 - x0) * (right - left); }
  double py(double y) const { return bottom - (y - y0) / (y1 - y0) * (bottom - top); }
};

// The frame's limits where it fixes them, and the plot area inside its margins.
void place_axes(const PlotFrame& f, Axes& a) {
  if (f.xlim[0] < f.xlim[1]) a.x0 = f.xlim[0], a.x1 = f.xlim[1];
  if (f.ylim[0] < f.ylim[1]) a.y0 = f.ylim[0], a.y1 = f.ylim[1];
  a.left = 52;
  a.right = f.width - 10;
  a.top = 24;
  a.bottom = f.height - 48;
}

void frame(std::ostringstream& o, const PlotFrame& f, const Axes& a, bool xticks) {
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << f.width << "\" height=\"" << f.height
    << "\" viewBox=\"0 0 " << f.width << ' ' << f.height << "\" font-family=\"sans-serif\" font-size=\"11\">"
    << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>";
  o << "<text x=\"" << f.width / 2 << "\" y=\"15\" text-anchor=\"middle\" font-size=\"13\" font-weight=\"bold\">"
    << xml_escape(f.title) << "</text>";
  o << "<rect x=\"" << fmt(a.left) << "\" y=\"" << fmt(a.top) << "\" width=\"" << fmt(a.right - a.left)
    << "\" height=\"" << fmt(a.bottom - a.top) << "\" fill=\"none\" stroke=\"#444\"/>";
  const double ys = nice_step(a.y0, a.y1);
  for (double t = std::ceil(a.y0 / ys) * ys; t <= a.y1 + 1e-9 * ys; t += ys) {
    o << "<line x1=\"" << fmt(a.left - 4) << "\" x2=\"" << fmt(a.right) << "\" y1=\"" << fmt(a.py(t)) << "\" y2=\""
      << fmt(a.py(t)) << "\" stroke=\"#e4e4e4\"/>";
    o << "<text x=\"" << fmt(a.left - 6) << "\" y=\"" << fmt(a.py(t) + 4) << "\" text-anchor=\"end\">"
      << tick_text(t, ys) << "</text>";
  }
  if (xticks) {
    const double xs = nice_step(a.x0, a.x1);
    for (double t = std::ceil(a.x0 / xs) * xs; t <= a.x1 + 1e-9 * xs; t += xs) {
      o << "<line x1=\"" << fmt(a.px(t)) << "\" x2=\"" << fmt(a.px(t)) << "\" y1=\"" << fmt(a.top) << "\" y2=\""
        << fmt(a.bottom + 4) << "\" stroke=\"#e4e4e4\"/>";
      o << "<text x=\"" << fmt(a.px(t)) << "\" y=\"" << fmt(a.bottom + 16) << "\" text-anchor=\"middle\">"
        << tick_text(t, xs) << "</text>";
    }
  }
  o << "<text x=\"" << fmt((a.left + a.right) / 2) << "\" y=\"" << f.height - 4 << "\" text-anchor=\"middle\">"
    << xml_escape(f.xlabel) << "</text>";
  o << "<text transform=\"translate(12," << fmt((a.top + a.bottom) / 2) << ") rotate(-90)\" text-anchor=\"middle\">"
    << xml_escape(f.ylabel) << "</text>";
}

}  // namespace

std::string xml_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      case '\'': o += "&#39;"; break;
      default: o += c;
    }
  }
  return o;
}

std::string svg_scatter(const PlotFrame& f, const std::vector<ScatterSeries>& series) {
  Axes a{};
  data_range(series, 0, a.x0, a.x1);
  data_range(series, 1, a.y0, a.y1);
  if (f.square) {
    a.x0 = a.y0 = std::min(a.x0, a.y0);
    a.x1 = a.y1 = std::max(a.x1, a.y1);
  }
  place_axes(f, a);
  std::ostringstream o;
  frame(o, f, a, true);
  if (f.diagonal) {
    const double lo = std::max(a.x0, a.y0), hi = std::min(a.x1, a.y1);
    if (lo < hi)
      o << "<line x1=\"" << fmt(a.px(lo)) << "\" y1=\"" << fmt(a.py(lo)) << "\" x2=\"" << fmt(a.px(hi)) << "\" y2=\""
        << fmt(a.py(hi)) << "\" stroke=\"#999\" stroke-dasharray=\"4 3\"/>";
  }
  for (const auto& s : series) {
    o << "<g fill=\"" << s.color << "\" fill-opacity=\"0.6\">";
    for (size_t i = 0; i < s.points.size(); ++i) {
      const auto& p = s.points[i];
      if (!std::isfinite(p[0]) || !std::isfinite(p[1])) continue;
      o << "<circle cx=\"" << fmt(a.px(p[0]), 1) << "\" cy=\"" << fmt(a.py(p[1]), 1) << "\" r=\""
        << (s.texts.empty() ? "2.2" : "4") << "\"/>";
    }
    o << "</g>";
    if (!s.texts.empty()) {
      // Labels right of their point (left of it near the right edge), moved down past
      // labels already placed so that close points stay readable.
      std::vector<std::array<double, 4>> placed;  // x0, y0, x1, y1 of each label
      o << "<g font-size=\"10\" fill=\"#222\">";
      for (size_t i = 0; i < s.points.size() && i < s.texts.size(); ++i) {
        const auto& p = s.points[i];
        if (!std::isfinite(p[0]) || !std::isfinite(p[1])) continue;
        const double w = 5.5 * static_cast<double>(s.texts[i].size());
        const bool left = a.px(p[0]) + 6 + w > f.width - 4;
        const double x = left ? a.px(p[0]) - 6 - w : a.px(p[0]) + 6;
        double y = a.py(p[1]) + 3;
        for (bool moved = true; moved;) {
          moved = false;
          for (const auto& b : placed)
            if (x < b[2] && x + w > b[0] && y > b[1] && y - 10 < b[3]) {
              y = b[3] + 11;
              moved = true;
            }
        }
        placed.push_back({x, y - 10, x + w, y});
        o << "<text x=\"" << fmt(x, 1) << "\" y=\"" << fmt(y, 1) << "\">" << xml_escape(s.texts[i]) << "</text>";
      }
      o << "</g>";
    }
  }
  // Legend (top left inside the box).
  double ly = a.top + 14;
  for (const auto& s : series) {
    if (s.label.empty()) continue;
    o << "<circle cx=\"" << fmt(a.left + 10) << "\" cy=\"" << fmt(ly - 4) << "\" r=\"4\" fill=\"" << s.color << "\"/>";
    o << "<text x=\"" << fmt(a.left + 18) << "\" y=\"" << fmt(ly) << "\">" << xml_escape(s.label) << "</text>";
    ly += 14;
  }
  o << "</svg>";
  return o.str();
}

std::string svg_lines(const PlotFrame& f, const std::vector<LineSeries>& series) {
  std::vector<ScatterSeries> as_points;
  for (const LineSeries& l : series) as_points.push_back({l.label, l.color, l.points, {}});
  Axes a{};
  data_range(as_points, 0, a.x0, a.x1);
  data_range(as_points, 1, a.y0, a.y1);
  place_axes(f, a);
  std::ostringstream o;
  frame(o, f, a, true);
  for (const LineSeries& l : series) {
    std::string path;
    bool pen = false;
    for (const auto& p : l.points) {
      if (!std::isfinite(p[0]) || !std::isfinite(p[1])) {
        pen = false;
        continue;
      }
      path += (pen ? " L" : " M") + fmt(a.px(p[0]), 1) + " " + fmt(a.py(p[1]), 1);
      pen = true;
    }
    if (!path.empty())
      o << "<path d=\"" << path.substr(1) << "\" fill=\"none\" stroke=\"" << l.color << "\" stroke-width=\"1.6\""
        << (l.dashed ? " stroke-dasharray=\"5 3\"" : "") << "/>";
    o << "<g fill=\"" << l.color << "\">";
    for (const auto& p : l.points)
      if (std::isfinite(p[0]) && std::isfinite(p[1]))
        o << "<circle cx=\"" << fmt(a.px(p[0]), 1) << "\" cy=\"" << fmt(a.py(p[1]), 1) << "\" r=\"1.8\"/>";
    o << "</g>";
  }
  double ly = a.top + 14;
  for (const LineSeries& l : series) {
    if (l.label.empty()) continue;
    o << "<line x1=\"" << fmt(a.right - 118) << "\" x2=\"" << fmt(a.right - 100) << "\" y1=\"" << fmt(ly - 4)
      << "\" y2=\"" << fmt(ly - 4) << "\" stroke=\"" << l.color << "\" stroke-width=\"2\""
      << (l.dashed ? " stroke-dasharray=\"5 3\"" : "") << "/>";
    o << "<text x=\"" << fmt(a.right - 96) << "\" y=\"" << fmt(ly) << "\">" << xml_escape(l.label) << "</text>";
    ly += 14;
  }
  o << "</svg>";
  return o.str();
}

std::string svg_bars(const PlotFrame& f, const std::vector<std::string>& labels, const std::vector<double>& values,
                     double reference) {
  Axes a{};
  a.x0 = 0;
  a.x1 = std::max<double>(1, static_cast<double>(labels.size()));
  a.y0 = 0;
  a.y1 = 0;
  for (double v : values)
    if (std::isfinite(v)) a.y0 = std::min(a.y0, v), a.y1 = std::max(a.y1, v);
  if (std::isfinite(reference)) a.y0 = std::min(a.y0, reference), a.y1 = std::max(a.y1, reference);
  if (a.y1 - a.y0 < 1e-12) a.y1 = a.y0 + 1;
  a.y1 += 0.08 * (a.y1 - a.y0);
  if (a.y0 < 0) a.y0 -= 0.08 * (a.y1 - a.y0);
  if (f.ylim[0] < f.ylim[1]) a.y0 = f.ylim[0], a.y1 = f.ylim[1];
  a.left = 52;
  a.right = f.width - 10;
  a.top = 24;
  a.bottom = f.height - 70;
  std::ostringstream o;
  frame(o, f, a, false);
  const double bw = (a.right - a.left) / a.x1;
  for (size_t i = 0; i < labels.size(); ++i) {
    const double v = i < values.size() ? values[i] : NAN;
    const double x = a.left + bw * (static_cast<double>(i) + 0.15);
    if (std::isfinite(v)) {
      const double y0 = a.py(std::max(0.0, v)), y1 = a.py(std::min(0.0, v));
      o << "<rect x=\"" << fmt(x) << "\" y=\"" << fmt(y0) << "\" width=\"" << fmt(bw * 0.7) << "\" height=\""
        << fmt(std::max(0.5, y1 - y0)) << "\" fill=\"#d9822b\"/>";
    }
    const double lx = x + bw * 0.35, ly = a.bottom + 12;
    o << "<text x=\"" << fmt(lx) << "\" y=\"" << fmt(ly) << "\" text-anchor=\"end\" font-size=\"10\" transform=\"rotate(-35 "
      << fmt(lx) << ' ' << fmt(ly) << ")\">" << xml_escape(labels[i]) << "</text>";
  }
  if (std::isfinite(reference))
    o << "<line x1=\"" << fmt(a.left) << "\" x2=\"" << fmt(a.right) << "\" y1=\"" << fmt(a.py(reference)) << "\" y2=\""
      << fmt(a.py(reference)) << "\" stroke=\"#555\" stroke-dasharray=\"4 3\"/>";
  o << "</svg>";
  return o.str();
}

std::string svg_colorbar(const std::vector<std::string>& stops, const std::string& left, const std::string& right,
                         int width) {
  std::ostringstream o;
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width + 90 << "\" height=\"22\" font-family=\"sans-serif\""
    << " font-size=\"11\"><defs><linearGradient id=\"cbar\">";
  for (size_t i = 0; i < stops.size(); ++i)
    o << "<stop offset=\"" << fmt(stops.size() > 1 ? static_cast<double>(i) / (stops.size() - 1) : 0, 3)
      << "\" stop-color=\"" << stops[i] << "\"/>";
  o << "</linearGradient></defs><text x=\"0\" y=\"15\">" << xml_escape(left) << "</text><rect x=\"40\" y=\"3\" width=\""
    << width << "\" height=\"16\" fill=\"url(#cbar)\" stroke=\"#444\"/><text x=\"" << width + 46 << "\" y=\"15\">"
    << xml_escape(right) << "</text></svg>";
  return o.str();
}

}  // namespace sv
