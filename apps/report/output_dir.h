// An output folder written atomically: everything goes into a temporary sibling folder
// (".NAME.tmp-PID" next to NAME), which is renamed onto NAME only when the run finishes.
// An interrupted or failed run leaves no half-written file under the final name; the
// temporary folder is removed when the run fails.
//
// An existing NAME is replaced only when it looks like an earlier run's output (it is
// empty or holds results.json); anything else there is an error, never deleted.
#pragma once
#include <string>

namespace sv {

class StagedOutput {
 public:
  // Creates the parents of final_dir and the temporary folder: IoError naming the folder
  // when that is impossible (so a run fails before its computation, not after).
  explicit StagedOutput(std::string final_dir);
  ~StagedOutput();
  StagedOutput(const StagedOutput&) = delete;
  StagedOutput& operator=(const StagedOutput&) = delete;

  const std::string& final_dir() const { return final_; }
  const std::string& staging_dir() const { return staging_; }
  // The staging path of a file given relative to the output folder; creates its folder.
  std::string file(const std::string& relative) const;
  // Renames the staging folder onto the final name (replacing an earlier run's output).
  void commit();

 private:
  std::string final_, staging_;
  bool committed_ = false;
};

}  // namespace sv
