// Staged output folder: create, fill, rename into place.
#include "apps/report/output_dir.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "autodiff/error.h"

namespace sv {

namespace fs = std::filesystem;

namespace {

bool replaceable(const fs::path& dir) {
  std::error_code ec;
  if (fs::is_empty(dir, ec) && !ec) return true;
  return fs::is_regular_file(dir / "results.json", ec);
}

}  // namespace

StagedOutput::StagedOutput(std::string final_dir) {
  SV_CHECK(!final_dir.empty(), IoError, "--out: the output folder name is empty");
  fs::path p = fs::path(final_dir).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();  // "out/" -> "out"
  SV_CHECK(!p.empty() && p.filename() != "." && p.filename() != "..", IoError,
           "--out " + final_dir + ": give the output folder a name");
  final_ = p.string();
  std::error_code ec;
  if (fs::exists(p, ec)) {
    SV_CHECK(fs::is_directory(p, ec), IoError, final_ + ": exists and is not a folder; cannot write the output there");
    SV_CHECK(replaceable(p), IoError,
             final_ + ": exists and is not an earlier sharedvis output (no results.json); choose another --out");
  }
  const fs::path parent = p.has_parent_path() ? p.parent_path() : fs::path(".");
  fs::create_directories(parent, ec);
  SV_CHECK(!ec && fs::is_directory(parent), IoError,
           final_ + ": cannot create the folder " + parent.string() + (ec ? ": " + ec.message() : ""));
  SV_CHECK(::access(parent.c_str(), W_OK) == 0, IoError,
           final_ + ": the folder " + parent.string() + " is not writable: " + std::strerror(errno));
  std::string tmp_name(".");  // built by appending: GCC 12 warns (-Wrestrict) falsely on "." + std::string
  tmp_name += p.filename().string();
  tmp_name += ".tmp-" + std::to_string(::getpid());
  staging_ = (parent / tmp_name).string();
  fs::remove_all(staging_, ec);
  fs::create_directory(staging_, ec);
  SV_CHECK(!ec, IoError, final_ + ": cannot create the temporary folder " + staging_ + ": " + ec.message());
}

StagedOutput::~StagedOutput() {
  if (committed_) return;
  std::error_code ec;
  fs::remove_all(staging_, ec);
}

std::string StagedOutput::file(const std::string& relative) const {
  const fs::path f = fs::path(staging_) / relative;
  std::error_code ec;
  fs::create_directories(f.parent_path(), ec);
  SV_CHECK(!ec, IoError, final_ + ": cannot create the folder " + f.parent_path().string() + ": " + ec.message());
  return f.string();
}

void StagedOutput::commit() {
  SV_CHECK(!committed_, Error, "output folder committed twice");
  std::error_code ec;
  std::string old;
  if (fs::exists(final_, ec)) {
    SV_CHECK(replaceable(final_), IoError,
             final_ + ": appeared during the run and is not an earlier sharedvis output; the results stay in " + staging_);
    old = staging_ + ".old";
    fs::remove_all(old, ec);
    SV_CHECK(::rename(final_.c_str(), old.c_str()) == 0, IoError,
             final_ + ": cannot move the earlier output aside: " + std::strerror(errno));
  }
  if (::rename(staging_.c_str(), final_.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    if (!old.empty()) ::rename(old.c_str(), final_.c_str());
    throw IoError(final_ + ": cannot rename the finished output from " + staging_ + ": " + why);
  }
  committed_ = true;
  if (!old.empty()) fs::remove_all(old, ec);
}

}  // namespace sv
