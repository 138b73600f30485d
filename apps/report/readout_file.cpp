// ReadoutFile -> safetensors.
#include "apps/report/readout_file.h"

#include <nlohmann/json.hpp>

#include "weights/safetensors.h"

namespace sv {

namespace {

Tensor f64(const std::vector<double>& v, const Shape& s) { return Tensor::from_vector(v, s); }

}  // namespace

void write_readout_file(const std::string& path, const ReadoutFile& r) {
  const int64_t M = r.w.rows, D = r.w.cols;
  const bool shared = r.mu.rows == 1;
  NamedTensors t;
  t.emplace_back("w", f64(r.w.v, {M, D}));
  t.emplace_back("b", f64(r.b, {M}));
  t.emplace_back("mu", shared ? f64(r.mu.v, {D}) : f64(r.mu.v, {r.mu.rows, D}));
  t.emplace_back("sigma", shared ? f64(r.sigma.v, {D}) : f64(r.sigma.v, {r.sigma.rows, D}));
  StMetadata meta;
  meta["format"] = "sharedvis readout: r(x) = b + w . (phi(x) - mu) / sigma";
  meta["model"] = r.model;
  meta["arch"] = r.arch;
  meta["layer"] = r.layer;
  meta["pool"] = r.pool;
  meta["neurons"] = nlohmann::json(r.neurons).dump();
  meta["preferred"] = nlohmann::json(r.preferred).dump();
  meta["lambda"] = nlohmann::json(r.lambda).dump();
  meta["mu_sigma"] = shared ? "shared" : "per-neuron";
  write_safetensors(path, t, meta);
}

}  // namespace sv
