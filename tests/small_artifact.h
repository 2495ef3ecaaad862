// Test helper: a small, valid NHITS artifact (16 -> 4, one 8x8 MLP per block, weights from seed 3,
// a standard scaler for one series "close") with a fresh uuid - what tests save, load, serve and
// register when the weights do not matter.
#pragma once

#include <nlohmann/json.hpp>

#include "ntn/models.h"
#include "ntn/pipeline.h"

namespace ntn::test {

inline Artifact small_artifact(const nlohmann::json& cfg = {{"type", "nhits"}, {"input_size", 16}, {"horizon", 4},
                                                             {"mlp_units", {{8, 8}}}}) {
  Artifact a;
  a.model = make_model<float>(cfg);
  a.model->init(3);
  a.scaling = SeriesScaling::standard;
  a.series = {"close"};
  a.stats = {NormStats{100.0, 5.0}};
  a.uuid = make_uuid();
  a.version = "test";
  a.created = utc_now_iso8601();
  return a;
}

}  // namespace ntn::test
