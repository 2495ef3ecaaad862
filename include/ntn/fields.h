// Validated numbers: the one parser for every integer, size and real that comes from outside
// (CLI options, model and training configs, search grids, stdin). A value is accepted only if
// the WHOLE text is the number, it is finite and it lies in the field's documented range;
// otherwise ntn::Error names the field, the text and the accepted range. Size products go
// through mul_checked so an overflow is an error, never a wrap-around.
//
// Intended usage:
//   std::size_t b = ntn::parse_uint("--batch", text, ntn::limits::kBatch);   // "-1" -> error
//   float lr = float(ntn::parse_real("--lr", text, {0, 10, false}));           // "nan" -> error
//   std::size_t w = ntn::json_uint(cfg, "nhits config", "input_size", 168, ntn::limits::kWindow);
//   std::size_t n = ntn::mul_checked(rows, cols, "input tensor (rows x cols)");
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ntn {

struct UintRange {
  std::uint64_t lo, hi;  // inclusive
};
struct RealRange {
  double lo, hi;
  bool lo_open = false;  // (lo, hi] instead of [lo, hi]
  bool hi_open = false;  // [lo, hi) instead of [lo, hi]
};

// The documented upper bounds (README "Limits"): a small file cannot ask for terabytes or a
// near-endless loop. Every bound is far above what the published configurations use.
namespace limits {
inline constexpr UintRange kWindow{1, 1u << 20};          // input_size L
inline constexpr UintRange kHorizon{1, 100000};           // horizon H
inline constexpr UintRange kOutputs{1, 99};               // outputs Q (quantile levels)
inline constexpr UintRange kWidth{1, 65536};              // any hidden width
inline constexpr UintRange kLayers{1, 256};               // mlp num_layers, mlp_units pairs
inline constexpr UintRange kStacks{1, 64};                // stacks of a residual model
inline constexpr UintRange kBlocks{1, 64};                // blocks per stack
inline constexpr UintRange kPoolKernel{1, 1u << 20};      // nhits pool_kernel
inline constexpr UintRange kDownsample{1, 1u << 20};      // nhits freq_downsample
inline constexpr UintRange kHarmonics{1, 1024};           // nbeats n_harmonics
inline constexpr UintRange kPolynomials{0, 32};           // nbeats n_polynomials
inline constexpr UintRange kCovariates{0, 4096};          // covariate channels of each kind
inline constexpr std::uint64_t kMaxParameters = 1ull << 28;  // 268M floats = 1 GiB of weights
inline constexpr std::uint64_t kMaxTensor = 1ull << 28;      // elements of any one planned tensor
inline constexpr UintRange kSteps{1, 1000000000};         // max_steps
inline constexpr UintRange kEpochs{0, 1000000};           // epochs (0: use max_steps)
inline constexpr UintRange kBatch{1, 65536};              // batch, val_batch, predict --batch
inline constexpr UintRange kMicroBatches{1, 256};         // micro_batches (also <= batch)
inline constexpr UintRange kEvery{0, 1000000000};         // val_every, checkpoint_every, log_every
inline constexpr UintRange kPatience{0, 1000000};         // early-stopping patience
inline constexpr UintRange kLrDecays{0, 64};              // step-schedule halvings
inline constexpr UintRange kSeed{0, UINT64_MAX};          // any 64-bit seed (never negative)
inline constexpr UintRange kThreads{0, 1024};             // 0: all cores
inline constexpr UintRange kOrigins{1, 10000000};         // backtest / search origins
inline constexpr UintRange kStep{1, 10000000};            // distance between origins
inline constexpr UintRange kSeason{0, 1000000};           // MASE season (0: none)
inline constexpr UintRange kCache{0, 100000000};          // forecast-cache entries (0: none)
inline constexpr UintRange kPaths{1, 100000};             // sample paths per forecast row
inline constexpr UintRange kCandidates{0, 100000};        // search --random
inline constexpr RealRange kLr{0, 10, true};              // (0, 10]
inline constexpr RealRange kWeightDecay{0, 10};
inline constexpr RealRange kClip{0, 1e9};                 // 0: off
inline constexpr RealRange kHuberDelta{0, 1e9, true};
inline constexpr RealRange kDropout{0, 1, false, true};   // [0, 1)
inline constexpr RealRange kQuantile{0, 1, true, true};   // (0, 1)
inline constexpr RealRange kMinDelta{0, 1e30};
inline constexpr RealRange kRatio{0, 1, false, true};     // val / test share [0, 1)
inline constexpr RealRange kWeight{0, 1};                 // ensemble weight
}  // namespace limits

// The one rule for a decimal number in text (CSV cells, options, stream lines): blanks around it
// are trimmed, then the whole text is one decimal number (digits, '.', exponent) with at most one
// leading sign ('+' or '-'); no hex, no trailing characters. "nan", "inf" and values beyond double
// (1e999) parse as not_finite.
enum class NumberText { ok, empty, not_a_number, not_finite };
NumberText strict_double(std::string_view text, double* v);

// Text -> number; the whole (space-trimmed) text must be the number: no sign on an unsigned
// field, no hex, no trailing characters, no NaN / inf.
std::uint64_t parse_uint(std::string_view field, std::string_view text, UintRange r);
double parse_real(std::string_view field, std::string_view text, RealRange r);
// A comma-separated list with no empty item (", ," and a trailing comma are errors).
std::vector<std::string> split_items(std::string_view field, std::string_view text);
std::vector<double> parse_real_list(std::string_view field, std::string_view text, RealRange r);

// Range checks of values that are already numbers (configs built in code).
std::uint64_t check_uint(std::string_view field, std::uint64_t v, UintRange r);
double check_real(std::string_view field, double v, RealRange r);
std::string range_text(UintRange r);
std::string range_text(RealRange r);

// a * b, or ntn::Error "<what>: a x b overflows" (also a + b).
std::uint64_t mul_checked(std::uint64_t a, std::uint64_t b, std::string_view what);
std::uint64_t add_checked(std::uint64_t a, std::uint64_t b, std::string_view what);
// a * b elements of one planned tensor (activations, bases, workspaces): at most
// limits::kMaxTensor, else an error naming it, before anything is allocated.
std::uint64_t check_tensor_size(std::uint64_t a, std::uint64_t b, std::string_view what);

// JSON fields of a config object: absent -> def; a value of the wrong JSON type (a bool or
// string for a number, a fraction for an integer) or out of range is an error naming
// "<ctx>: field '<key>'".
std::uint64_t json_uint(const nlohmann::json& j, std::string_view ctx, const char* key, std::uint64_t def, UintRange r);
double json_real(const nlohmann::json& j, std::string_view ctx, const char* key, double def, RealRange r);
std::vector<std::uint64_t> json_uint_list(const nlohmann::json& j, std::string_view ctx, const char* key,
                                          const std::vector<std::uint64_t>& def, UintRange r);
std::vector<double> json_real_list(const nlohmann::json& j, std::string_view ctx, const char* key,
                                   const std::vector<double>& def, RealRange r);
std::string json_string(const nlohmann::json& j, std::string_view ctx, const char* key, const std::string& def);
bool json_bool(const nlohmann::json& j, std::string_view ctx, const char* key, bool def);
// Every key of j must be in `known`, else an error naming the first unknown one and the known set.
void json_known_fields(const nlohmann::json& j, std::string_view ctx, const std::vector<std::string>& known);

// v is finite and stays finite as a float32 (|v| <= FLT_MAX; NaN and inf are not).
inline bool fits_f32(double v) { return v >= -3.4028234663852886e38 && v <= 3.4028234663852886e38; }

// A text is valid UTF-8 (names from files end up in JSON metadata, which requires it).
bool valid_utf8(std::string_view s);

}  // namespace ntn
