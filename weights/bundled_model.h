// Where the bundled model (our Fashion-MNIST CNN, weights/fmnist_cnn.safetensors) is found
// at run time. It is data, not code: the build tree keeps a copy in <build>/share/sharedvis/,
// `cmake --install` puts it in <prefix>/share/sharedvis/.
#pragma once
#include <string>

namespace sv {

inline constexpr const char* kBundledModelFile = "fmnist_cnn.safetensors";

// The first of: $SHAREDVIS_MODEL_DIR/fmnist_cnn.safetensors (when the variable is set, it
// decides even if the file is missing there); share/sharedvis/ next to the running
// executable or one folder up (a build tree, a relocated install); the install prefix's
// share/sharedvis/. When none has the file, the install prefix's path (loading it then
// fails with a message that names it).
std::string bundled_model_path();

}  // namespace sv
