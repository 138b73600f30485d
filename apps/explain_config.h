// The options of `sharedvis explain`, checked and parsed once into typed values: every
// stage of the pipeline (apps/explain_stages.h) takes this, never the option strings of
// ExplainOptions (the CLI's and the Python binding's flat form).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "apps/enum_names.h"
#include "apps/explain.h"
#include "apps/method/heatmap.h"
#include "apps/method/references.h"
#include "apps/method/saliency.h"
#include "apps/method/shared.h"
#include "apps/method/synthetic.h"
#include "apps/primitives.h"

namespace sv {

enum class InputKind { Responses, Images, Dataset };
inline constexpr std::array<EnumName<InputKind>, 3> kInputKindNames{
    {{"responses", InputKind::Responses}, {"images", InputKind::Images}, {"dataset", InputKind::Dataset}}};

enum class FitOn { Preferred, All };
inline constexpr std::array<EnumName<FitOn>, 2> kFitOnNames{{{"preferred", FitOn::Preferred}, {"all", FitOn::All}}};

enum class LambdaRule { Best, OneSe };
inline constexpr std::array<EnumName<LambdaRule>, 2> kLambdaRuleNames{{{"best", LambdaRule::Best}, {"1se", LambdaRule::OneSe}}};

enum class DecompositionScale { Pair, Panel };
inline constexpr std::array<EnumName<DecompositionScale>, 2> kDecompositionScaleNames{
    {{"pair", DecompositionScale::Pair}, {"panel", DecompositionScale::Panel}}};

enum class Split { Test, Train };
inline constexpr std::array<EnumName<Split>, 2> kSplitNames{{{"test", Split::Test}, {"train", Split::Train}}};

struct InputConfig {
  InputKind kind = InputKind::Dataset;
  std::string responses, preferred;    // kind Responses
  std::string images;                  // kind Images: one subfolder per category
  std::string dataset = "fashion-mnist", data_dir;  // kind Dataset ("" data_dir: the default folder)
  Split split = Split::Test;
  int64_t limit = 0;                   // the first `limit` images of the dataset (0: all)
  std::vector<std::string> synthetic;  // categories of synthetic neurons (Images, Dataset)
  SyntheticSource source = SyntheticSource::Auto;
  double noise = 0.1;
  int repeats = 2;
};

struct ModelConfig {
  std::string path;   // "" : the bundled model
  std::string layer;  // "" : the model's default readout layer
  Pool pool = Pool::Avg;
  std::string device = "auto";  // cpu | cuda | auto
  int threads = 0;
  int64_t feature_batch = 256;  // images per forward-only pass
};

struct ReadoutConfig {
  FitOn fit_on = FitOn::Preferred;
  std::vector<double> lambdas;  // the grid searched, or the one fixed λ
  bool fixed_lambda = false;
  double lambda_lo = 1e-2, lambda_hi = 1e6;
  int lambda_n = 17;
  int folds = 5;
  LambdaRule rule = LambdaRule::Best;
  uint64_t seed = 0;
};

struct PairConfig {
  int top_ooc = 3, top_k = 5, top_dims = 3;
  Similarity similarity = Similarity::Cosine;
  SharedRule shared = SharedRule::ReluProduct;
};

struct EvidenceConfig {
  bool faithfulness = true;
  int faith_steps = 20;
  std::string faith_baseline = "blur";  // checked: blur | zero | mean
  bool randomisation = false;
  uint64_t randomisation_seed = 1;
};

struct ExplainConfig {
  InputConfig input;
  ModelConfig model;
  ReadoutConfig readout;
  PairConfig pairs;
  AttrOptions attr;  // the attribution of the maps; its max_batch is --max-batch
  HeatmapOptions heat;
  DecompositionScale decomposition_scale = DecompositionScale::Pair;
  EvidenceConfig evidence;
  std::string out = "out/explain";
  bool progress = true;
};

// Checks every option and parses it once; the defaults of the embedded run (the
// Fashion-MNIST test set and default_synthetic_labels()) where no input is given.
// ValueError naming the flag for a bad value.
ExplainConfig make_config(const ExplainOptions& o);

// Every option and choice of the run, as results.json records it under "choices";
// arch, layer, D and backend come from the loaded model.
nlohmann::json choices_json(const ExplainConfig& c, const std::string& model_path, const std::string& arch,
                            const std::string& layer, int64_t D, const std::string& backend);

}  // namespace sv
