// ntneural models: the model registry (names, summaries, capabilities, a tiny config each).
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>

#include "commands.h"
#include "common.h"
#include "ntn/auto.h"
#include "ntn/models.h"

namespace ntn::cli {

std::string model_names() { return join(model_types()); }

namespace {

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ",") + x;
  return s.empty() ? "-" : s;
}

int run_models(bool as_json) {
  if (as_json) {
    nlohmann::json a = nlohmann::json::array();
    for (const ModelInfo& m : model_registry()) {
      a.push_back({{"name", m.name},
                   {"summary", m.summary},
                   {"outputs", m.outputs},
                   {"covariates", m.covariates},
                   {"streaming", m.streaming},
                   {"tiny_config", m.tiny_config}});
      // The --auto search space (none for a model fitted directly).
      a.back()["auto_space"] = m.direct_fit || m.composite ? nlohmann::json(nullptr) : auto_space(m.name);
    }
    std::printf("%s\n", nlohmann::json({{"models", a}}).dump().c_str());
    return 0;
  }
  // Columns as wide as their widest cell.
  int wn = 5, wo = 7, wc = 10;
  for (const ModelInfo& m : model_registry()) {
    wn = std::max(wn, int(m.name.size()));
    wo = std::max(wo, int(join(m.outputs).size()));
    wc = std::max(wc, int(join(m.covariates).size()));
  }
  std::printf("%-*s  %-*s  %-*s  %-9s  %s\n", wn, "model", wo, "outputs", wc, "covariates", "streaming", "summary");
  for (const ModelInfo& m : model_registry())
    std::printf("%-*s  %-*s  %-*s  %-9s  %s\n", wn, m.name.c_str(), wo, join(m.outputs).c_str(), wc,
                join(m.covariates).c_str(), m.streaming ? "yes" : "no", m.summary.c_str());
  return 0;
}

}  // namespace

Run add_models(CLI::App& app) {
  auto as_json = std::make_shared<bool>(false);
  app.add_flag("--json", *as_json, "Print one JSON object {\"models\": [...]}");
  return [as_json] { return run_models(*as_json); };
}

}  // namespace ntn::cli
