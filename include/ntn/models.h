// Forecasting models: a Config (JSON, stored in artifacts) + named parameters + forward/backward.
// Input: a Batch of B windows - the target history (B, L) and, for models that take them,
// historic (B, L, Ch), future-known (B, L + H, Cf) and static (B, S) covariates. Output y
// (B, H, Q): H steps, Q outputs per step (1 for a point forecast, one per quantile level for a
// multi-quantile head).
//
// Registered types: model_registry() (one file per model under src/models/, one row each in
// src/models/registry.cpp); `ntneural models` lists them with their capabilities.
//
// Intended usage:
//   auto m = ntn::make_model<float>({{"type", "nhits"}, {"input_size", 168}, {"horizon", 24}});
//   m->init(/*seed=*/1);
//   auto ws = m->make_workspace(/*max_batch=*/32);
//   m->forward(*ws, x, y, B, {});                       // inference
//   m->forward(*ws, x, y, B, ctx); m->backward(*ws, dy, m->params().grads(), nullptr, B, ctx);
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

#include "ntn/dataset.h"
#include "ntn/mlp.h"
#include "ntn/nn.h"

namespace ntn {

template <class T>
class Model {
 public:
  struct Workspace {
    virtual ~Workspace() = default;
    std::size_t max_batch = 0;
  };

  virtual ~Model() = default;
  virtual std::string type() const = 0;
  // The full configuration, defaults filled in: make_model(config()) rebuilds the same model.
  virtual nlohmann::json config() const = 0;
  virtual std::size_t input_size() const = 0;  // L
  virtual std::size_t horizon() const = 0;     // H
  virtual std::size_t outputs() const = 0;     // Q
  virtual Covariates covariates() const = 0;   // channels each batch must carry

  nn::ParamSet<T>& params() { return ps_; }
  const nn::ParamSet<T>& params() const { return ps_; }
  // Mixed-precision training (nn::ParamSet::set_bf16_products) for every parameter set the model
  // runs its products with (an ensemble's members too).
  virtual void set_bf16_products(bool on) { ps_.set_bf16_products(on); }
  // PyTorch-default initialisation of every parameter from (seed, parameter name).
  virtual void init(std::uint64_t seed) = 0;
  // Activations and scratch for batches up to max_batch; one per thread. inference = true sizes
  // only what a forward needs (served through RunCtx::packed or not; no training forward, no
  // backward): what validation and serving use.
  virtual std::unique_ptr<Workspace> make_workspace(std::size_t max_batch, bool inference = false) const = 0;
  // y (B, H, Q) from the batch (in.B <= the workspace's max_batch). Caches in ws what backward needs.
  virtual void forward(Workspace& ws, const Batch<T>& in, T* y, const nn::RunCtx& ctx) const = 0;
  // A batch of target windows only (models without covariates): x (B, L).
  void forward(Workspace& ws, const T* x, T* y, std::size_t B, const nn::RunCtx& ctx) const {
    Batch<T> in;
    in.B = B;
    in.y = x;
    forward(ws, in, y, ctx);
  }
  // After forward on the same ws: accumulates parameter gradients into `grads` (laid out like
  // params()) - or overwrites them when ctx.accumulate is false - and writes dx (B, L), the
  // gradient of the target history, if not null.
  virtual void backward(Workspace& ws, const T* dy, T* grads, T* dx, std::size_t B,
                        const nn::RunCtx& ctx) const = 0;

  // ---- optional: streaming state (ModelInfo::streaming) --------------------------------------
  struct State {
    virtual ~State() = default;
    // What the state carries from tick to tick (the rest is scratch): saved and restored to
    // snapshot / resume a live stream.
    virtual T* values() = 0;
    virtual std::size_t size() const = 0;
  };
  // A fresh state (as before the first tick); null when the model does not stream.
  virtual std::unique_ptr<State> make_state() const { return nullptr; }
  // Whether this model, of a type that streams (ModelInfo::streaming), carries a state in its
  // configuration (DeepAR's per-window mean scaling rules it out); make_state() is null if not.
  virtual bool can_stream() const { return true; }
  // One new tick: the target value (scaled like a window) enters the state; y (H, Q) is the
  // forecast from it. ctx.packed serves packed weights (float). Allocates nothing. Models that
  // stream override this; they take no covariates while streaming.
  virtual void step(State& state, const T* tick, T* y, const nn::RunCtx& ctx = {}) const;

  // ---- optional: ancestral sampling (ModelInfo::ancestral) ------------------------------------
  // Models with a distribution head whose next step reads the value drawn at the step before
  // (DeepAR) draw whole paths: out (B, P, H), `paths` P per row of `in`, on the scaled space of
  // the window; each path feeds its own draws back. The draws of row b, path p come from
  // path_rng(seed, row0 + b, p) (heads.h): the same paths however rows are batched. ctx.packed
  // serves packed weights (float). Allocates its buffers per call. Other models throw: their
  // steps are conditionally independent, so paths are drawn per step from forward's parameters
  // (sample_paths, ntn/sampling.h, does either).
  virtual void sample(const Batch<T>& in, std::size_t paths, std::uint64_t seed, std::size_t row0, T* out,
                      const nn::RunCtx& ctx = {}) const;

  // ---- optional: direct fit (ModelInfo::direct_fit) --------------------------------------------
  // A model fitted on each window's own history inside forward (prophet: a MAP fit by L-BFGS), not
  // trained by gradient steps: it has no parameters to learn, the trainer runs no steps (it scores
  // the validation windows) and backward throws.
  virtual bool fits_directly() const { return false; }

 protected:
  nn::ParamSet<T> ps_;
};

// Builds a model from its configuration; unknown types or invalid fields throw ntn::Error
// naming the field. Missing fields take the defaults of the authors' libraries.
template <class T>
std::unique_ptr<Model<T>> make_model(const nlohmann::json& config);

// The registry (src/models/registry.cpp): one row per model type, read by make_model, the CLI
// (`ntneural models`, `train --help`), the artifact loader and the contract tests.
struct ModelInfo {
  std::string name;                      // "nhits"
  std::string summary;                   // one line
  nlohmann::json tiny_config;            // a small valid config, for tests
  std::vector<std::string> outputs;      // output kinds: "point", "quantiles", ...
  std::vector<std::string> covariates;   // covariate kinds it consumes: "historic", "future", "static"
  bool streaming = false;                // carries a recurrent state tick by tick
  bool ancestral = false;                // samples whole paths (Model::sample): each step reads its last draw
  bool direct_fit = false;               // fitted per window in forward (Model::fits_directly), no gradient steps
  bool composite = false;                // built of member models (ensemble): --ensemble trains it, --auto does not search it
  std::vector<std::string> calendar{};   // calendar features it reads as its last future channels when the
                                         // data has dates (prophet: its time axis), added by train_job
  // The model's own knobs in the --auto search (ntn/auto.h), added to the common space; a key
  // with a null value removes a common one. {"field": {"choice": [...]}}, see auto.h.
  nlohmann::json auto_space = nlohmann::json::object();
  bool distribution_only() const { return outputs == std::vector<std::string>{"distribution"}; }
};
const std::vector<ModelInfo>& model_registry();
// The row of a model type; an unknown type is an error listing the known ones.
const ModelInfo& model_info(const std::string& type);
std::vector<std::string> model_types();  // the registry's names, in its order

}  // namespace ntn
