// CSV parsing of the responses file, with errors that point at the line and column.
#include "apps/io/csv.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "autodiff/error.h"
#include "apps/io/input_file.h"

namespace sv {

namespace {

// Splits one CSV record. Returns false on an unterminated quote.
bool split_record(const std::string& line, std::vector<std::string>& out) {
  out.clear();
  std::string field;
  bool quoted = false, was_quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < line.size() && line[i + 1] == '"') {
          field += '"';
          ++i;
        } else {
          quoted = false;
        }
      } else {
        field += c;
      }
    } else if (c == '"' && !was_quoted && field.find_first_not_of(" \t") == std::string::npos) {
      field.clear();
      quoted = was_quoted = true;
    } else if (c == ',') {
      out.push_back(field);
      field.clear();
      was_quoted = false;
    } else {
      field += c;
    }
  }
  out.push_back(field);
  return !quoted;
}

std::string trim(const std::string& s) {
  const size_t a = s.find_first_not_of(" \t\r");
  if (a == std::string::npos) return "";
  const size_t b = s.find_last_not_of(" \t\r");
  return s.substr(a, b - a + 1);
}

struct NeuronColumn {
  int neuron = 0;
  int repeat = 0;  // 0-based
};

}  // namespace

ResponseTable read_responses_csv(const std::string& path) {
  check_input_file(path);
  std::ifstream in(path);
  SV_CHECK(in.good(), IoError, path + ": cannot open the responses file");
  return read_responses_csv(in, path);
}

ResponseTable read_responses_csv(std::istream& in, const std::string& path) {
  ResponseTable t;
  t.path = path;
  const std::filesystem::path base = std::filesystem::path(path).parent_path();
  std::string line;
  std::vector<std::string> f;
  int lineno = 0;

  // ---- header
  while (std::getline(in, line)) {
    ++lineno;
    if (!trim(line).empty()) break;
  }
  SV_CHECK(!trim(line).empty(), IoError, path + ": the file is empty (expected a header: image,category,NEURON...)");
  if (line.size() >= 3 && static_cast<unsigned char>(line[0]) == 0xEF && static_cast<unsigned char>(line[1]) == 0xBB &&
      static_cast<unsigned char>(line[2]) == 0xBF)
    line = line.substr(3);
  SV_CHECK(split_record(line, f), IoError, path + ": line " + std::to_string(lineno) + ": unterminated quote");
  const int header_line = lineno;
  std::vector<std::string> header;
  for (const std::string& h : f) header.push_back(trim(h));
  SV_CHECK(header.size() >= 3 && header[0] == "image" && header[1] == "category", IoError,
           path + ": line " + std::to_string(lineno) +
               ": the header must start with the columns image,category followed by one column per neuron");
  std::vector<NeuronColumn> cols(header.size());
  std::map<std::string, int> neuron_index;
  std::map<std::string, std::vector<bool>> seen;  // neuron -> repeats present
  for (size_t c = 2; c < header.size(); ++c) {
    const std::string& h = header[c];
    SV_CHECK(!h.empty(), IoError, path + ": line " + std::to_string(lineno) + ", column " + std::to_string(c + 1) +
                                      ": empty neuron name");
    std::string name = h;
    int rep = 0;
    const size_t hash = h.rfind('#');
    if (hash != std::string::npos) {
      name = h.substr(0, hash);
      const std::string num = h.substr(hash + 1);
      char* end = nullptr;
      const long r = std::strtol(num.c_str(), &end, 10);
      SV_CHECK(!name.empty() && !num.empty() && *end == '\0' && r >= 1 && r <= 100000, IoError,
               path + ": line " + std::to_string(lineno) + ", column '" + h +
                   "': a repeat column must be NAME#k with k = 1, 2, ...");
      rep = static_cast<int>(r - 1);
    }
    if (!neuron_index.count(name)) {
      neuron_index[name] = static_cast<int>(t.neurons.size());
      t.neurons.push_back(name);
    }
    std::vector<bool>& s = seen[name];
    if (s.size() <= static_cast<size_t>(rep)) s.resize(static_cast<size_t>(rep) + 1, false);
    SV_CHECK(!s[static_cast<size_t>(rep)], IoError,
             path + ": line " + std::to_string(lineno) + ", column '" + h + "': duplicate column");
    s[static_cast<size_t>(rep)] = true;
    cols[c] = {neuron_index[name], rep};
  }
  for (const auto& [name, s] : seen)
    for (size_t r = 0; r < s.size(); ++r)
      SV_CHECK(s[r], IoError, path + ": line " + std::to_string(header_line) + ": neuron '" + name + "' has column " +
                                  name + "#" + std::to_string(r + 1) + " missing (repeats must be numbered 1, 2, ...)");

  // ---- rows
  std::vector<std::vector<std::vector<double>>> values(t.neurons.size());  // [neuron][row][repeat]
  while (std::getline(in, line)) {
    ++lineno;
    if (trim(line).empty()) continue;
    const std::string where = path + ": line " + std::to_string(lineno);
    SV_CHECK(split_record(line, f), IoError, where + ": unterminated quote");
    SV_CHECK(f.size() == header.size(), IoError,
             where + ": " + std::to_string(f.size()) + " fields, but the header has " + std::to_string(header.size()));
    const std::string image = trim(f[0]), category = trim(f[1]);
    SV_CHECK(!image.empty(), IoError, where + ", column 'image': missing value");
    SV_CHECK(!category.empty(), IoError, where + ", column 'category': missing value");
    const std::filesystem::path p = std::filesystem::path(image).is_absolute() ? std::filesystem::path(image) : base / image;
    std::error_code ec;
    SV_CHECK(std::filesystem::is_regular_file(p, ec), IoError,
             where + ", column 'image': image file " + p.string() + " does not exist");
    t.images.push_back(p.string());
    t.image_fields.push_back(image);
    t.categories.push_back(category);
    t.lines.push_back(lineno);
    for (size_t n = 0; n < values.size(); ++n) values[n].emplace_back(seen[t.neurons[n]].size(), 0.0);
    for (size_t c = 2; c < f.size(); ++c) {
      const std::string s = trim(f[c]);
      SV_CHECK(!s.empty(), IoError, where + ", column '" + header[c] + "': missing value");
      char* end = nullptr;
      errno = 0;
      const double x = std::strtod(s.c_str(), &end);
      SV_CHECK(end && *end == '\0' && errno != ERANGE && std::isfinite(x), IoError,
               where + ", column '" + header[c] + "': '" + s + "' is not a number");
      values[static_cast<size_t>(cols[c].neuron)].back()[static_cast<size_t>(cols[c].repeat)] = x;
    }
  }
  SV_CHECK(!t.images.empty(), IoError, path + ": no data rows after the header");
  for (size_t n = 0; n < t.neurons.size(); ++n) {
    const auto R = static_cast<int64_t>(seen[t.neurons[n]].size());
    Mat m(static_cast<int64_t>(t.images.size()), R);
    for (size_t i = 0; i < t.images.size(); ++i)
      for (int64_t r = 0; r < R; ++r) m(static_cast<int64_t>(i), r) = values[n][i][static_cast<size_t>(r)];
    t.repeats.push_back(std::move(m));
  }
  return t;
}

}  // namespace sv
