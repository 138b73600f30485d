#include "weights/bundled_model.h"

#include <cstdlib>
#include <filesystem>
#include <system_error>

namespace sv {

namespace fs = std::filesystem;

std::string bundled_model_path() {
  if (const char* dir = std::getenv("SHAREDVIS_MODEL_DIR"); dir && *dir)
    return (fs::path(dir) / kBundledModelFile).string();
  const fs::path installed = fs::path(SHAREDVIS_INSTALL_DATA_DIR) / kBundledModelFile;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    for (const fs::path& base : {exe.parent_path(), exe.parent_path().parent_path()}) {
      const fs::path p = base / "share" / "sharedvis" / kBundledModelFile;
      if (fs::is_regular_file(p, ec)) return p.string();
    }
  }
  return installed.string();
}

}  // namespace sv
