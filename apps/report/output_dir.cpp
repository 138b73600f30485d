// Staged output folder: create, fill, rename into place.
#include "apps/report/output_dir.h"

#include <signal.h>
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

// Staging folders of runs that were killed (".NAME.tmp-PID" and its ".old", PID no
// longer running) are removed: nothing else would ever clean them up.
void remove_stale_staging(const fs::path& parent, const std::string& name) {
  const std::string prefix = "." + name + ".tmp-";
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(parent, ec)) {
    const std::string f = e.path().filename().string();
    if (f.rfind(prefix, 0) != 0) continue;
    std::string pid = f.substr(prefix.size());
    if (pid.size() > 4 && pid.compare(pid.size() - 4, 4, ".old") == 0) pid.resize(pid.size() - 4);
    if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos || pid.size() > 9) continue;
    const pid_t p = static_cast<pid_t>(std::stol(pid));
    if (p == ::getpid() || ::kill(p, 0) == 0 || errno != ESRCH) continue;  // alive, or not ours to judge
    std::error_code rm;
    fs::remove_all(e.path(), rm);
  }
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
  remove_stale_staging(parent, p.filename().string());
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
