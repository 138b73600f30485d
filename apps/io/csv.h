// The responses file: one row per image, recorded responses of every neuron.
//
//   image,category,n1,n2#1,n2#2
//   img/body_01.png,body,12.5,3.1,2.9
//
// Columns: `image` (a path relative to the CSV's folder, or absolute), `category`, then
// one numeric column per neuron; repeated measurements of a neuron (sessions, trials) are
// columns NAME#1, NAME#2, ... . Fields may be double-quoted (RFC 4180, "" for a quote).
// Every problem is an IoError naming the file, the line and the column.
#pragma once
#include <istream>
#include <string>
#include <vector>

#include "apps/method/matrix.h"

namespace sv {

struct ResponseTable {
  std::string path;                     // the CSV file
  std::vector<std::string> images;      // (rows) resolved image paths
  std::vector<std::string> image_fields;  // (rows) as written in the file
  std::vector<std::string> categories;  // (rows)
  std::vector<int> lines;               // (rows) line number in the file (1 = header)
  std::vector<std::string> neurons;     // neuron names, in column order of first appearance
  std::vector<Mat> repeats;             // per neuron (rows, R): R = 1 without '#'
};

// Reads and validates the file; images are checked to exist (IoError naming file, line
// and path), not decoded.
ResponseTable read_responses_csv(const std::string& path);
// The same parse from a stream (the fuzz target's entry point): `path` names the file in
// messages and its folder is where relative image paths are looked up.
ResponseTable read_responses_csv(std::istream& in, const std::string& path);

}  // namespace sv
