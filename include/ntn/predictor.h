// Serving forecasts: a Predictor loads an artifact once, packs its Linear weights for the dense
// kernels at the precision asked for (create), sizes one workspace per thread for its largest
// batch (reshape), runs the whole path once (warm-up), and from then on predict() does
// arithmetic only: no allocation, no lock held while computing. Inputs and outputs are on the
// ORIGINAL scale: the artifact's per-series scaler and per-window scaler are applied and
// inverted inside (SIMD normalisation kernels).
//
// Precision: fp32 (packed fp32 weights), fp16 (binary16 weights widened with F16C), bf16
// (bfloat16 weights widened by a shift: fp32's range in half the bytes), int8
// (per-output-channel int8 weights, each activation row quantised on the fly). An fp32 artifact
// can be served at any precision (converted at load); a quantised artifact (ntneural quantize)
// carries its exact low-precision weights.
//
// Every output is computed by the dense kernels' fixed FMA order, so a window's forecast is
// bitwise the same whether it is predicted alone, in a batch of 512, on 1 or 16 threads.
//
// Thread safety: predict / predict_batch may be called from many threads at once; each call
// borrows a workspace from a small pool (a new one is created only when more threads call at
// once than ever before). Latency statistics are lock-free.
//
// Intended usage:
//   ntn::Predictor p("model.ntn", {.precision = ntn::Precision::int8});
//   const std::size_t s = p.series_index("OT");              // for per-series scaled models
//   p.predict(last_168_values, forecast, s);                 // forecast (H, Q)
//   p.predict_batch(windows, 256, forecasts);                // (256, L) -> (256, H, Q)
//   ntn::LatencySummary lat = p.latency().summary();
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ntn/aligned.h"
#include "ntn/latency.h"
#include "ntn/mlp.h"
#include "ntn/models.h"
#include "ntn/normalize.h"
#include "ntn/pipeline.h"
#include "ntn/pool.h"

namespace ntn {

// Every Linear weight of a model packed for the dense kernels at one precision (read-only,
// shared by all threads).
class PackedWeights {
 public:
  struct Layer {
    Precision precision = Precision::fp32;
    std::size_t M = 0, K = 0, Kp = 0;  // outputs, inputs, inputs padded for int8
    void* data = nullptr;              // packed f32 / f16 / i8 panels (in the shared slab)
    std::vector<float> scale;          // int8: per output channel
    std::vector<std::int32_t> w_sum;   // int8: per output (panels * 16), for VNNI
    const float* bias = nullptr;       // the model's fp32 bias (null if none)
  };
  // Packs every 2-D "<name>.weight" parameter. Weights stored low-precision in the artifact are
  // packed from their exact stored values; fp32 weights are converted when precision says so.
  PackedWeights(const Artifact& a, Precision precision);
  Precision precision() const { return precision_; }
  const Layer& layer(std::size_t weight_param) const;  // by the ParamSet index of the weight
  std::size_t max_kp() const { return max_kp_; }
  std::size_t bytes() const;  // packed weight bytes
  // The packed panels of every layer, one slab (what a batch-1 forecast streams once).
  const void* slab() const { return slab_.data(); }
  std::size_t slab_bytes() const { return slab_.bytes(); }

 private:
  Precision precision_;
  AlignedBuffer slab_;
  std::vector<std::unique_ptr<Layer>> by_param_;  // indexed by parameter index (null: not a weight)
  std::size_t max_kp_ = 0;
};

// Runs Linear layers from PackedWeights (the nn::PackedLinears hook); one per thread: owns the
// int8 row-quantisation scratch for max_batch rows (longer calls run in chunks of it).
class RowTeam;
class PackedRunner final : public nn::PackedLinears {
 public:
  // forecast_threads > 1: batch-1 layers of at least kSplitRows outputs and more than kSplitBytes
  // of weights split their rows between the caller and forecast_threads - 1 helper threads owned
  // by this runner (RowTeam). A hand-off costs ~0.65 us (a cross-core round trip on a Zen 5 VM),
  // what one core reads of ~60 KB: smaller layers run faster on one core (int8 NHITS-default
  // measured 17.9 us split against 14.1 us).
  PackedRunner(const PackedWeights& w, std::size_t max_batch, std::size_t forecast_threads = 1);
  ~PackedRunner() override;
  void run(const nn::Linear<float>& l, const float* x, float* y, std::size_t B) override;
  std::uint64_t split_jobs() const;  // layers run split so far (0 without helpers)
  static constexpr std::size_t kSplitRows = 128, kSplitPanels = 4, kSplitBytes = 256 << 10;

 private:
  void run_panels(const PackedWeights::Layer& L, const float* x, float* y, std::size_t p0, std::size_t p1) const;
  const PackedWeights& w_;
  std::size_t max_batch_;
  std::vector<std::int8_t> xq_;  // (max_batch, max Kp)
  std::vector<float> xs_;        // (max_batch)
  std::unique_ptr<RowTeam> team_;
};

struct PredictorOptions {
  Precision precision = Precision::fp32;  // how Linear weights are served
  std::size_t max_batch = 32;       // rows per forward per thread; batches are cut into chunks of this size
  double latency_target_us = 0;     // predict() calls slower than this count as violations (0: none)
  bool warm_up = true;              // run the whole path once per workspace at load
  // Workspaces created (and warmed up) at load: set it to the number of threads that will call
  // at once, so that none is created later (a later one costs one allocation, then is reused).
  std::size_t workspaces = 1;
  // Threads ONE forecast uses (batch 1, predict or a stream's tick): > 1 splits the output rows of
  // every packed layer of >= 128 rows between the caller and forecast_threads - 1 helper threads
  // per workspace (they spin 200 us after each layer, then sleep). The forecast is bitwise the
  // same; batches keep one thread per chunk.
  std::size_t forecast_threads = 1;
};

// Covariates of B forecast rows on the data's own scale: the predictor applies the scaling stored
// in the artifact (Artifact::covariates). hist (B, L, Ch): the input window's L steps; futr
// (B, L + H, Cf): those L steps and the H ahead, calendar channels as calendar_feature gives them;
// stat (B, S). Rows are ld_* elements apart (0: dense); a backtest passes one step (Ch, Cf) to
// read the overlapping windows of one series in place.
struct RawCovariates {
  const double* hist = nullptr;
  const double* futr = nullptr;
  const double* stat = nullptr;
  std::size_t ld_hist = 0, ld_futr = 0, ld_stat = 0;
};

class Predictor {
 public:
  static constexpr std::size_t kNoSeries = std::size_t(-1);

  // From a file: the Linear weights are packed straight from the read-only file mapping and
  // never copied into the model (artifact().linear_weights_loaded is false).
  explicit Predictor(const std::string& artifact_path, PredictorOptions o = {});
  Predictor(Artifact a, PredictorOptions o = {});
  ~Predictor();
  Predictor(const Predictor&) = delete;
  Predictor& operator=(const Predictor&) = delete;

  std::size_t input_size() const { return L_; }
  std::size_t horizon() const { return H_; }
  std::size_t outputs() const { return Q_; }
  std::size_t output_size() const { return H_ * Q_; }  // floats per forecast
  Precision precision() const { return packed_.precision(); }
  const Artifact& artifact() const { return a_; }
  const PredictorOptions& options() const { return opt_; }
  // A 64-bit id of (artifact uuid, precision): the model part of a cache key.
  std::uint64_t model_key() const { return model_key_; }
  // Index of a series of the artifact's per-series scaler; throws naming the series.
  std::size_t series_index(const std::string& name) const;
  // Per-series scaler in use for `series` (identity if the model has none); throws if the model
  // scales per series and series is kNoSeries while it was trained on several.
  NormStats series_stats(std::size_t series) const;
  std::size_t packed_bytes() const { return packed_.bytes(); }
  const PackedWeights& packed_weights() const { return packed_; }
  // Layers run split over forecast_threads so far, all workspaces (call it while no forecast runs).
  std::uint64_t split_jobs() const;

  // One forecast: x (L) the last L observations, original scale -> y (H, Q) original scale.
  // Throws ntn::Error naming the position of a NaN / inf input. Records its latency.
  void predict(const float* x, float* y, std::size_t series = kNoSeries);
  // Same, with the window's scaler statistics already known (StreamingPredictor keeps them
  // updated in O(1)); window_stats is on the series-scaled values and ignored without a window
  // scaler.
  void predict(const float* x, float* y, std::size_t series, const NormStats& window_stats);
  // B forecasts: x (B, L) -> y (B, H, Q); series (B) per row or null (kNoSeries for all). Rows
  // are ldx floats apart (0: L) - ldx < L reads overlapping windows of one series in place,
  // e.g. ldx = 1 for every origin of a backtest. Rows are cut into chunks of max_batch, run on
  // the thread pool (set_num_threads). Every row is validated before any is computed.
  void predict_batch(const float* x, std::size_t B, float* y, const std::size_t* series = nullptr,
                     std::size_t ldx = 0);
  // Same in double: inputs are scaled and forecasts unscaled in double around the float32 model,
  // so a series far from zero (a 1e13 level moving by 1e3) keeps its variation, which float32
  // would round away (its spacing at 1e13 is 1e6). What predict / backtest / search of the CLI use.
  void predict_batch(const double* x, std::size_t B, double* y, const std::size_t* series = nullptr,
                     std::size_t ldx = 0);
  // Same for a model with covariates (Predictor::covariates()); the calls above refuse such a
  // model. A non-finite covariate is an error naming the row, the step and the column.
  void predict_batch(const double* x, std::size_t B, double* y, const RawCovariates& cov,
                     const std::size_t* series = nullptr, std::size_t ldx = 0);
  Covariates covariates() const { return cov_; }
  // A distribution model's forecasts as sample paths: x (B, L) original scale -> paths (B, P, H)
  // original scale, P per row (each path feeds its own draws back in an autoregressive model,
  // sampling.h); path p of row b draws from path_rng(seed, b, p). cov: as predict_batch (null
  // for a model without covariates). Unlike predict, this allocates its buffers per call.
  void sample_batch(const double* x, std::size_t B, std::size_t paths, std::uint64_t seed, double* out,
                    const std::size_t* series = nullptr, const RawCovariates* cov = nullptr);
  // Same, into a (B, H, Q) tensor from `pool` (returned to it when the handle dies): repeated
  // batches of one size reuse their output buffers.
  PooledTensor predict_batch(const float* x, std::size_t B, TensorPool& pool, const std::size_t* series = nullptr);

  LatencyStats& latency() { return latency_; }

  // ---- carried state (models that stream, ModelInfo::streaming) -------------------------------
  // A stream's model state, its own packed-weight runner and output buffer (one per stream; not
  // shared between threads).
  struct StreamState {
    std::unique_ptr<Model<float>::State> model;
    std::unique_ptr<PackedRunner> runner;
    std::vector<float> y;       // (H, Q) the model's outputs of the last tick
    std::vector<float> backup;  // the state before the tick running (restored if it fails)
  };
  // True when a stream carries the model's state from tick to tick: the model streams and the
  // artifact has no window scaler (a window scaler rescales every input at every tick, which a
  // carried state cannot follow; such a stream re-reads its window per tick instead).
  bool carries_state() const;
  StreamState make_stream_state() const;
  // One tick (original scale) through the model's step: scaled by the series scaler, forecast
  // y (H, Q) on the original scale as predict() gives it (quantile order, unscaling, checks).
  // A value that is not finite once scaled, or a tick whose forecast is not, is an error that
  // leaves the state as it was. Allocates nothing.
  void step(StreamState& st, float value, float* y, std::size_t series = kNoSeries);

 private:
  struct Workspace;
  Workspace* acquire();
  void release(Workspace* w);
  void reserve_workspaces(std::size_t n);  // at least n exist
  void predict_one(const float* x, float* y, std::size_t series, const NormStats* window_stats);
  template <class In>
  void check_row(const In* x, std::size_t row) const;
  // Every input of a batch call before any work: the covariates, each row (stride ldx) and each
  // row's series (or the artifact's one series when series is null).
  template <class In>
  void check_rows(const In* x, std::size_t B, std::size_t ldx, const std::size_t* series,
                  const RawCovariates* cov) const;
  template <class In, class Out>
  void predict_batch_impl(const In* x, std::size_t B, Out* y, const std::size_t* series, std::size_t ldx,
                          const RawCovariates* cov);
  void check_covariates(const RawCovariates* cov, std::size_t B) const;
  // The covariates of rows [r0, ...) of cov (strides made explicit); empty without covariates.
  RawCovariates cov_rows(const RawCovariates* cov, std::size_t r0) const;
  template <class Out>
  [[noreturn]] void check_forecast(const Out* y, std::size_t row) const;  // names the row and step
  // The model's outputs yb (H, Q) of one row to the caller's forecast ob on the original scale:
  // quantiles ordered, window (if w) then series scaling inverted, non-finite results refused.
  template <class Out>
  void finish_row(float* yb, Out* ob, const NormStats* w, const NormStats& s, std::size_t row) const;
  // rows [0, B) of x into ws's scaled model input (series, then window scaling; covariates).
  template <class In>
  Batch<float> scale_rows(Workspace& ws, const In* x, std::size_t B, const std::size_t* series,
                          const NormStats* window_stats, std::size_t ldx, const RawCovariates* cov);
  // rows [0, B) of x through ws: scaling, forward, quantile order, unscaling.
  template <class In, class Out>
  void run_rows(Workspace& ws, const In* x, std::size_t B, Out* y, const std::size_t* series,
                const NormStats* window_stats, std::size_t ldx = 0, std::size_t row0 = 0,
                const RawCovariates* cov = nullptr);

  Artifact a_;
  PredictorOptions opt_;
  std::size_t L_, H_, Q_;
  Covariates cov_;
  PackedWeights packed_;
  std::uint64_t model_key_;
  LatencyStats latency_;
  SpinLock mu_;
  std::vector<std::unique_ptr<Workspace>> all_;  // every workspace ever created
  std::vector<Workspace*> free_;                 // capacity reserved: push/pop never allocate
};

// Streaming: one forecast per tick.
//
// Models that carry a state (recurrent ones: Predictor::carries_state()) advance it by one cell
// step per layer and run their head: a tick costs the same whatever the window, and the forecast
// after T ticks is the batch forecast over all T values (the state summarises the whole stream,
// not only the last L). Forecasts start once L values have arrived, as for the other models.
//
// Other models (and streaming models trained with a window scaler) forecast from the window:
// push(value) appends an observation to a ring buffer kept contiguous (each value is written
// twice, at i and i + L, so the window is always one slice), updates the window scaler's
// statistics incrementally - O(1) for the standard scaler (sliding Welford mean / M2 in double,
// recomputed exactly every L pushes so rounding cannot drift), a sorted copy for the robust
// scaler (binary search + memmove of L floats) - and returns the forecast of the next H steps.
// The forecast equals Predictor::predict on the same window up to the rounding of the
// statistics (tested).
//
// snapshot() / restore() save and resume a live stream (window, statistics, carried state) as
// bytes, checked against the predictor's model and precision.
//
// Intended usage:
//   ntn::StreamingPredictor s(predictor, predictor.series_index("close"));
//   for (float v : ticks) if (s.push(v, forecast)) use(forecast);   // (H, Q) once L values arrived
//   std::string saved = s.snapshot();  ...  s2.restore(saved);       // later, or in another process
class StreamingPredictor {
 public:
  explicit StreamingPredictor(Predictor& p, std::size_t series = Predictor::kNoSeries);
  // Appends one observation (original scale). NaN / inf throw and leave the stream unchanged.
  // Returns false while fewer than L values have arrived; then true with y (H, Q) written.
  bool push(float value, float* y) {
    if (!append(value)) return false;
    forecast(y);
    return true;
  }
  // The two halves of push (a caller may look the window up in a ForecastCache in between -
  // only when the stream does not carry a state: then the window alone determines the forecast):
  // append returns whether the window is full; forecast needs a full window.
  bool append(float value);
  void forecast(float* y);
  bool carries_state() const { return carried_; }
  std::size_t size() const { return n_; }             // values in the window (<= L)
  std::uint64_t ticks() const { return ticks_; }      // values since the start (or reset)
  const float* window() const { return buf_.data() + (n_ < L_ ? 0 : pos_); }  // oldest first
  void reset();
  // The stream's whole state as bytes (versioned, checksummed); restore() takes bytes from a
  // stream of the same model (artifact uuid), precision and series, and throws naming what
  // differs - the stream is unchanged then.
  std::string snapshot() const;
  void restore(const std::string& bytes);

  // Adaptive conformal intervals (ACI, conformal.h) around every forecast from now on, from the
  // artifact's split-conformal calibration (its grid) at `level`; each value that arrives scores
  // the pending forecasts that aimed at it. The ACI state travels in snapshot() / restore(); a
  // snapshot taken without it starts it afresh. Forecasts must come from forecast() (not a cache).
  void enable_adaptive(double level, double gamma = kAciGamma);
  bool adaptive() const { return aci_.has_value(); }
  const AdaptiveConformal* adaptive_state() const { return aci_ ? &*aci_ : nullptr; }
  // The last forecast's adaptive interval (H each, original scale); empty before one.
  const std::vector<double>& interval_lo() const { return lo_; }
  const std::vector<double>& interval_hi() const { return hi_; }

 private:
  void recompute();
  void adaptive_interval(const float* y);
  Predictor& p_;
  std::size_t series_, L_;
  NormStats ss_;               // series scaler
  WindowScaling scaling_;
  bool carried_ = false;
  Predictor::StreamState st_;  // carried state (carried_)
  std::vector<float> buf_;     // (2L)
  std::size_t pos_ = 0, n_ = 0, since_exact_ = 0;
  std::uint64_t ticks_ = 0;
  double mean_ = 0, m2_ = 0;   // raw window (standard scaler)
  std::vector<float> sorted_;  // raw window, sorted (robust scaler)
  std::vector<float> last_;    // (H, Q) the last forecast of a carried state
  std::optional<AdaptiveConformal> aci_;
  std::vector<double> f_, lo_, hi_;  // (H) the last forecast's point and adaptive interval
  std::vector<double> row_, slo_, shi_;  // its outputs (H, Q) in double and interval scales (H)
};

// The text protocol of a tick stream (ntneural predict --stream): one value per line, '\n' or
// "\r\n" ended. feed() takes any chunks of bytes; each complete line is a number in the strict
// form of the CSV reader (decimal, optional sign and exponent; no hex, no NaN / inf, nothing
// after it - a NUL byte included - and within float32) or blank (skipped). A line longer than
// kMaxLine bytes, a bad number or an unterminated last line with text (finish()) is an error
// naming "stdin:LINE". Values come out through on_value, in order.
class StreamLineParser {
 public:
  static constexpr std::size_t kMaxLine = 4096;
  explicit StreamLineParser(std::function<void(float value, std::size_t line)> on_value)
      : on_value_(std::move(on_value)) {}
  void feed(const char* data, std::size_t n);
  void finish();  // end of input: a last line without '\n' still counts
  std::size_t lines() const { return line_; }

 private:
  void parse_line(std::string_view line);
  std::function<void(float, std::size_t)> on_value_;
  std::string pending_;  // the incomplete last line
  std::size_t line_ = 0;
};

}  // namespace ntn
