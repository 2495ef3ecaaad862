// Low-precision artifacts and the accuracy report that goes with them.
//
// quantize() converts every Linear weight of an fp32 artifact: fp16 or bf16 (round to nearest even) or
// int8 (per output channel symmetric: scale = max |w| / 127). Biases and everything else stay
// fp32; activations are quantised at run time by the Predictor (int8: per row, dynamically).
// The new artifact has a new UUID and records its source in training["quantized_from"].
//
// Intended usage:
//   ntn::Artifact q = ntn::quantize(ntn::Artifact::load("m.ntn"), ntn::Precision::int8);
//   q.save("m.int8.ntn");
//   std::vector<float> f = ntn::forecast_test(predictor, prepared);   // (windows, H, Q)
#pragma once

#include <vector>

#include "ntn/pipeline.h"
#include "ntn/predictor.h"

namespace ntn {

Artifact quantize(const Artifact& a, Precision to);

// Forecasts every test window of p with the predictor, served exactly as in production: the
// window is taken back to the original scale, the predictor scales and unscales it. Returns
// (windows, H, Q) on p.store's (series-scaled) scale, ready for score_test.
std::vector<float> forecast_test(Predictor& pred, const Prepared& p);

// The report of a quantised artifact against its fp32 original (both files): the packed weight
// bytes of each, and with p the test-part accuracy of both served through the same Predictor
// path (mae, mse, smape: fp32, quantised and the relative change; mean absolute change of the
// forecasts). The quantised artifact must be a quantize() of the original.
nlohmann::json quantization_report(const std::string& fp32_path, const std::string& quantized_path,
                                   const Prepared* p = nullptr);

}  // namespace ntn
