// Internal to src/models: the config helpers every model file shares, and the registry entry
// each model file provides (registry.cpp lists them; nothing else spells a model's name).
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

#include "ntn/error.h"
#include "ntn/fields.h"
#include "ntn/models.h"

namespace ntn::models {

using nlohmann::json;

// One registry row: how to build the model in float and double, a tiny config for the contract
// tests, and what it supports.
struct Entry {
  ModelInfo info;
  std::unique_ptr<Model<float>> (*build_float)(const json& config);
  std::unique_ptr<Model<double>> (*build_double)(const json& config);
};

// The model files' rows (one function per file).
Entry nhits_entry();
Entry nbeats_entry();
Entry mlp_entry();

// ---- config helpers: every bad field is an error that names it (ntn/fields.h) ------------------
using Units = std::vector<std::vector<std::size_t>>;
// "mlp_units": a list of [in, out] width pairs, each starting where the previous ends.
Units mlp_units(const json& cfg, const char* model, const Units& def);

// The fields every model has (input_size, horizon, outputs, activation, dropout), validated and
// written back into cfg with their defaults.
struct Common {
  std::size_t L, H, Q;
  nn::Act act;
  float dropout;
};
Common common(json& cfg, const char* model);

// A per-stack list of `stacks` integers in r (default def).
std::vector<std::size_t> per_stack(const json& cfg, const char* model, const char* key,
                                   std::vector<std::uint64_t> def, std::size_t stacks, UintRange r);

}  // namespace ntn::models
