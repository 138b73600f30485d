// The stages of `sharedvis explain`, each a function with typed inputs and outputs
// (docs/architecture.md, "The data path"):
//
//   config   = make_config(options)                        explain_config.h
//   model    = load_model_stage(config.model)
//   set      = load_image_set(config.input, model)         explain_inputs.h
//   plan     = source_plan(config.input, model, layer, set)
//   feats    = features_stage(config, model, set.x, plan)  φ and the synthetic source, one pass
//   data     = make_neurons(config, set, feats..., plan)
//   readouts = fit_stage(config, data)
//   pairs    = pairs_stage(config.pairs, readouts, data, neurons)
//   maps     = backprop_stage(config, model, data, pairs)     decodes the pairs' images only
//   evidence = faithfulness_stage(...), randomisation_stage(...)
//   report   = figures_stage(...), write_report(...)       explain_report.h
//
// None mutates another's output; run_explain (explain.cpp) chains them, and the staged
// runs over a work folder (explain_work.h) run them a slice at a time.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "apps/explain_config.h"
#include "apps/explain_inputs.h"
#include "apps/method/readout.h"
#include "apps/method/saliency.h"
#include "apps/report/run_result.h"
#include "backends/factory.h"

namespace sv {

struct LoadedModel {
  std::string path;   // the model file (the bundled one when none was given)
  std::string layer;  // the readout layer
  Model model;
  std::unique_ptr<Backend> be;
};

LoadedModel load_model_stage(const ModelConfig& c);

// The features of images x: φ (N, D) at the readout layer and, for synthetic neurons, the
// source's output (N, S), from one forward pass (features_at), in the model's dtype.
// Stops the run (ValueError) on a non-finite φ, naming the image (first_image + row).
struct Features {
  Tensor phi;
  Tensor source;  // undefined when !plan.needed
};
Features features_stage(const ExplainConfig& c, LoadedModel& m, const Tensor& x, const SourcePlan& plan,
                        int64_t first_image = 0);

// One neuron's readout and the images it is fitted on.
struct NeuronReadout {
  size_t neuron = 0;           // index into Readouts::neurons
  std::vector<double> y;       // (n) mean response
  std::vector<int64_t> pref, ooc, fit;
  RidgeFit fit_result;
  std::string group;           // its fit set: key into standardizers and designs
};

struct Readouts {
  std::vector<NeuronResult> neurons;  // every neuron, its readout statistics filled (no pairs yet)
  std::vector<NeuronReadout> fitted;  // the neurons not skipped, in order
  std::map<std::string, Standardizer> standardizers;  // by fit set
  std::map<std::string, Mat> designs;                 // z (n, D) by fit set
  const Standardizer& st(const NeuronReadout& r) const { return standardizers.at(r.group); }
  const Mat& Z(const NeuronReadout& r) const { return designs.at(r.group); }
};

// Readouts by ridge (λ by CV), one SVD per fit set, and their statistics, of the neurons
// [first, last) (all by default; r.neurons has every neuron, the others left empty).
// Constant neurons are skipped and reported; ValueError when every neuron of the whole set is.
Readouts fit_stage(const ExplainConfig& c, const Analysed& data, size_t first = 0, size_t last = SIZE_MAX);

// Neuron k's images (preferred, ooc, fit set) and mean response, before its fit.
NeuronReadout neuron_readout(const ExplainConfig& c, const Analysed& data, size_t k);
// The standardizer and design of every fit set of r.fitted not yet in r.
void fit_set_designs(const Analysed& data, Readouts& r);
// ValueError listing every neuron's reason when no neuron was fitted.
void require_fitted(const Readouts& r);

// A pair chosen for a neuron, and the rows of its cotangents.
struct PairPlan {
  size_t neuron = 0;           // index into Readouts::neurons
  size_t fitted = 0;           // index into Readouts::fitted
  PairResult pair;             // the choice's fields (images, α, top dims, similarity)
  int64_t cot = 0;             // the shared map's cotangent row
  std::vector<int64_t> dim_cots;  // the decomposition's rows, one per top dim
};

struct Pairs {
  std::vector<PairPlan> plans;
  Mat cot;                            // (cotangents, D)
  std::vector<BackpropJob> jobs;      // two per cotangent row r: 2r (ooc image), 2r + 1 (reference)
  std::vector<int64_t> unique_images; // unique image -> analysed image
  std::vector<int64_t> unique_of;     // analysed image -> unique image (-1: none)
};

// The top ooc images of the fitted neurons listed in `fitted` (indices into
// readouts.fitted; all of them when empty), each with its reference, α and cotangents.
Pairs pairs_stage(const PairConfig& c, const Readouts& readouts, const Analysed& data,
                  const std::vector<size_t>& fitted = {});

// The images pairs.unique_images of the analysed images: (unique, C, H, W), taken from
// data.x or, when the images are decoded on demand, decoding those images only.
Tensor unique_image_batch(const Analysed& data, const Pairs& pairs);

// Every cotangent in multi-output passes over the unique images.
struct Maps {
  Tensor xu;          // (unique, C, H, W)
  BackpropResult bp;  // per job
};
Maps backprop_stage(const ExplainConfig& c, LoadedModel& m, const Analysed& data, const Pairs& pairs);

// What results.json says of the backprop under inputs.backprop: the one-process run's
// passes at --max-batch (method/saliency.h backprop_shape).
nlohmann::json backprop_description(const Pairs& pairs, int64_t max_batch);

// Evidence (docs/method.md §8) per plan: curves of its ooc image and of its reference.
struct PairEvidence {
  std::vector<FaithCurves> faith_ooc, faith_ref;
  std::vector<RandomisationPoint> rand_ooc, rand_ref;
};
struct Evidence {
  std::vector<PairEvidence> pairs;     // per plan (empty lists where not computed)
  std::vector<double> min_drop;        // per fitted readout (NaN where not computed)
  nlohmann::json faithfulness, randomisation;  // settings (null: not computed)
};
Evidence evidence_stage(const ExplainConfig& c, LoadedModel& m, const Readouts& readouts, const Pairs& pairs,
                        const Maps& maps);

}  // namespace sv
