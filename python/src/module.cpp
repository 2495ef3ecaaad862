// ntneural._ntneural: the Python bindings (pybind11). Thin: every call is one library call, made
// with the GIL released; numpy arrays in and out without copies where the layout allows.
// The Python-facing API (docstrings, pandas input) is completed in python/ntneural/__init__.py.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ntn/backtest.h"
#include "ntn/csv.h"
#include "ntn/error.h"
#include "ntn/features.h"
#include "ntn/jobs.h"
#include "ntn/parallel.h"
#include "ntn/pipeline.h"
#include "ntn/predictor.h"
#include "ntn/quantize.h"
#include "ntn/registry.h"
#include "ntn/safetensors.h"

namespace py = pybind11;
using nlohmann::json;

namespace {

py::object to_py(const json& j) { return py::module_::import("json").attr("loads")(j.dump()); }
json to_json(const py::handle& o) {
  return json::parse(py::module_::import("json").attr("dumps")(o).cast<std::string>());
}

// A trained or loaded model: its artifact (bytes kept, so predictors and copies are cheap to
// make), the training summary and test metrics when it was trained here.
struct PyModel {
  std::shared_ptr<const std::string> bytes;
  std::string source;
  json summary, test;
  std::shared_ptr<ntn::Predictor> predictor;  // made on first predict

  ntn::Artifact artifact() const {
    return ntn::Artifact::from_file(
        std::make_shared<const ntn::SafeTensorsFile>(ntn::SafeTensorsFile::parse(*bytes, source)));
  }
  static PyModel from_file(const std::string& path) {
    PyModel m;
    m.bytes = std::make_shared<const std::string>(ntn::read_file(path));
    m.source = path;
    m.artifact();  // validates
    return m;
  }
  static PyModel from_artifact(const ntn::Artifact& a, const std::string& source) {
    PyModel m;
    m.bytes = std::make_shared<const std::string>(a.bytes());
    m.source = source;
    return m;
  }
  ntn::Predictor& pred() {
    if (!predictor) predictor = std::make_shared<ntn::Predictor>(artifact(), ntn::PredictorOptions{.max_batch = 64});
    return *predictor;
  }
};

// (T,) / (T, S) float64 array or a dict name -> (T,) -> an in-memory frame.
std::shared_ptr<ntn::Frame> frame_of(const py::object& data, const std::vector<std::string>& names_in,
                                     const std::vector<std::string>& times) {
  auto f = std::make_shared<ntn::Frame>();
  f->source = "<array>";
  if (py::isinstance<py::dict>(data)) {
    for (auto item : data.cast<py::dict>()) {
      f->names.push_back(py::str(item.first).cast<std::string>());
      auto a = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(item.second);
      NTN_CHECK(a && a.ndim() == 1, "train: data['", f->names.back(), "'] must be a 1-D array of numbers");
      f->cols.emplace_back(a.data(), a.data() + a.shape(0));
    }
  } else {
    auto a = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(data);
    NTN_CHECK(a && (a.ndim() == 1 || a.ndim() == 2), "train: data must be a 1-D (T,) or 2-D (T, S) array of numbers, or "
              "a dict of 1-D arrays");
    const std::size_t T = std::size_t(a.shape(0)), S = a.ndim() == 2 ? std::size_t(a.shape(1)) : 1;
    for (std::size_t s = 0; s < S; ++s) {
      f->names.push_back(names_in.size() == S ? names_in[s] : S == 1 ? std::string("y") : ntn::cat("y", s));
      std::vector<double> c(T);
      for (std::size_t t = 0; t < T; ++t) c[t] = a.data()[t * S + s];
      f->cols.push_back(std::move(c));
    }
  }
  NTN_CHECK(!f->cols.empty(), "train: no series in data");
  const std::size_t T = f->cols[0].size();
  for (std::size_t c = 0; c < f->cols.size(); ++c)
    NTN_CHECK(f->cols[c].size() == T, "train: series '", f->names[c], "' has ", f->cols[c].size(), " values, '",
              f->names[0], "' has ", T);
  for (std::size_t t = 0; t < T; ++t) f->lines.push_back(t + 1);
  if (times.empty()) {
    for (std::size_t t = 0; t < T; ++t) f->time.push_back(double(t));
    return f;
  }
  // Dates (what calendar covariates and the season read): ISO text, one per row, increasing.
  NTN_CHECK(times.size() == T, "train: ", times.size(), " dates for ", T, " rows");
  f->time_name = "ds";
  f->time_text = times;
  for (std::size_t t = 0; t < T; ++t) {
    double v;
    NTN_CHECK(ntn::parse_time(times[t], &v), "train: date ", t, " '", times[t],
              "' is not YYYY-MM-DD[THH:MM[:SS]] or a number");
    NTN_CHECK(t == 0 || v > f->time.back(), "train: dates must increase: date ", t, " '", times[t], "' after '",
              times[t - 1], "'");
    f->time.push_back(v);
  }
  return f;
}

PyModel train(const py::object& data, const std::string& model, std::size_t input_size, std::size_t horizon,
              const py::dict& train_cfg, const py::dict& model_cfg, const std::vector<std::string>& names,
              double val_ratio, double test_ratio, const std::string& scaler, std::size_t threads,
              const std::string& checkpoint, const std::string& init_from, const std::vector<std::string>& targets,
              const py::dict& covariates, const std::vector<std::string>& times) {
  ntn::TrainJob job;
  job.data.frame = frame_of(data, names, times);
  job.data.csv.columns = targets;
  for (auto item : covariates) {
    const std::string k = py::str(item.first);
    auto v = item.second.cast<std::vector<std::string>>();
    if (k == "hist") job.data.covariates.hist = v;
    else if (k == "futr") job.data.covariates.futr = v;
    else if (k == "stat") job.data.covariates.stat = v;
    else if (k == "calendar") job.data.covariates.calendar = v;
    else throw ntn::Error(ntn::cat("train: unknown covariate kind '", k, "' (hist, futr, stat, calendar)"));
  }
  job.data.path = "<array>";
  job.data.protocol = ntn::Protocol::none;
  job.data.val_ratio = val_ratio;
  job.data.test_ratio = test_ratio;
  job.data.scaling = ntn::parse_series_scaling(scaler);
  job.model = to_json(model_cfg);
  job.model["type"] = model;
  if (input_size) job.model["input_size"] = input_size;
  if (horizon) job.model["horizon"] = horizon;
  // The command line's defaults for what train_cfg leaves out (the same model as `ntneural train`).
  nlohmann::json tj = to_json(train_cfg);
  if (!tj.contains("loss")) tj["loss"] = ntn::default_loss(model);
  job.train = ntn::TrainConfig::from_json(tj);
  if (!tj.contains("window_scaling"))
    job.train.window_scaling =
        ntn::parse_window_scaling(ntn::default_window_scaler(model, ntn::Protocol::none, job.train.loss));
  job.train.checkpoint_path = checkpoint;
  if (!init_from.empty()) {
    std::string parent;
    job.init_from = ntn::resolve_checkpoint_file(init_from, &parent);
    std::error_code ec;
    NTN_CHECK(parent.empty() || checkpoint.empty() || !std::filesystem::equivalent(checkpoint, job.init_from, ec),
              "train: checkpoint '", checkpoint, "' is the registered checkpoint init_from reads; choose another path");
  }
  ntn::TrainResult r;
  {
    py::gil_scoped_release nogil;
    ntn::set_num_threads(int(threads));
    r = ntn::train_job(job);
  }
  PyModel m = PyModel::from_artifact(r.artifact, "<trained>");
  m.summary = r.summary.to_json();
  if (!r.prepared.test.empty()) m.test = ntn::evaluate_test(r.artifact, r.prepared).to_json();
  return m;
}

// x: (L,) or (B, L) float64 -> (H,) / (B, H) [x Q when Q > 1], through predict_batch in double.
using DArray = py::array_t<double, py::array::c_style | py::array::forcecast>;

// The covariates of B rows for a model that takes them (Predictor::covariates()): hist (L, Ch) or
// (B, L, Ch), futr (L + H, Cf) or (B, L + H, Cf) - the columns, then the calendar features
// (calendar_feature) - and stat (S,) or (B, S); one row's arrays serve every row when B > 1 only
// if given with the batch dimension. keep holds the converted arrays while cov points into them.
ntn::RawCovariates covariates_of(const ntn::Predictor& p, std::size_t B, const py::object& hist,
                                 const py::object& futr, const py::object& stat, const char* who,
                                 std::vector<DArray>& keep) {
  const ntn::Covariates c = p.covariates();
  const std::size_t L = p.input_size(), H = p.horizon();
  ntn::RawCovariates cov;
  auto one = [&](const py::object& o, const char* name, std::size_t n, std::vector<std::size_t> inner,
                 const char* layout) -> const double* {
    if (n == 0) {
      NTN_CHECK(o.is_none(), who, ": the model takes no ", name, " covariates (drop ", name, "=)");
      return nullptr;
    }
    NTN_CHECK(!o.is_none(), who, ": the model takes ", n, " ", name, " covariate channel(s): give ", name, "= ",
              layout);
    DArray a = DArray::ensure(o);
    NTN_CHECK(a, who, ": ", name, " must be an array of numbers ", layout);
    inner.push_back(n);
    const bool batched = std::size_t(a.ndim()) == inner.size() + 1;
    bool ok = batched || std::size_t(a.ndim()) == inner.size();
    if (ok && batched) ok = std::size_t(a.shape(0)) == B;
    if (ok && !batched) ok = B == 1;
    for (std::size_t i = 0; ok && i < inner.size(); ++i) ok = std::size_t(a.shape(py::ssize_t(i + batched))) == inner[i];
    std::string shape;
    for (py::ssize_t i = 0; i < a.ndim(); ++i) shape += (i ? ", " : "") + std::to_string(a.shape(i));
    NTN_CHECK(ok, who, ": ", name, " must be ", layout, " for ", B, " row(s) (got (", shape, "))");
    keep.push_back(a);
    return keep.back().data();
  };
  keep.reserve(3);
  cov.hist = one(hist, "hist", c.hist, {L}, ntn::cat("(L, Ch) = (", L, ", ", c.hist, ") or (B, L, Ch)").c_str());
  cov.futr = one(futr, "futr", c.futr, {L + H}, ntn::cat("(L + H, Cf) = (", L + H, ", ", c.futr, ") or (B, L + H, Cf)").c_str());
  cov.stat = one(stat, "stat", c.stat, {}, ntn::cat("(S,) = (", c.stat, ",) or (B, S)").c_str());
  return cov;
}

// The checked inputs of a forecast call: B histories of x ((L,) or (B, L)), their covariates
// (covariates_of; keep holds the arrays cov points into) and each row's series.
struct Rows {
  std::size_t B = 0;
  std::vector<DArray> keep;
  ntn::RawCovariates cov;
  std::vector<std::size_t> series;
};
Rows rows_of(const ntn::Predictor& p, const DArray& x, const std::optional<std::string>& series,
             const py::object& hist, const py::object& futr, const py::object& stat, const char* who) {
  const std::size_t L = p.input_size();
  NTN_CHECK(x.ndim() == 1 || x.ndim() == 2, who, ": history must be (L,) or (B, L)");
  Rows r;
  r.B = x.ndim() == 2 ? std::size_t(x.shape(0)) : 1;
  NTN_CHECK(std::size_t(x.shape(x.ndim() - 1)) == L, who, ": the model reads the last ", L, " values (got ",
            x.shape(x.ndim() - 1), ")");
  r.cov = covariates_of(p, r.B, hist, futr, stat, who, r.keep);
  r.series.assign(r.B, series ? p.series_index(*series) : ntn::Predictor::kNoSeries);
  return r;
}

py::array_t<double> model_predict(PyModel& m, const DArray& x, const std::optional<std::string>& series,
                                  const py::object& hist, const py::object& futr, const py::object& stat) {
  ntn::Predictor& p = m.pred();
  const Rows r = rows_of(p, x, series, hist, futr, stat, "predict");
  std::vector<py::ssize_t> shape;
  if (x.ndim() == 2) shape.push_back(py::ssize_t(r.B));
  shape.push_back(py::ssize_t(p.horizon()));
  if (p.outputs() > 1) shape.push_back(py::ssize_t(p.outputs()));
  py::array_t<double> y(shape);
  const double* xp = x.data();
  double* yp = y.mutable_data();
  {
    py::gil_scoped_release nogil;
    if (p.covariates().any())
      p.predict_batch(xp, r.B, yp, r.cov, r.series.data());
    else
      p.predict_batch(xp, r.B, yp, r.series.data());
  }
  return y;
}

// The model's split-conformal intervals around its point forecasts: {level: (lo, hi)}, each (H,)
// or (B, H), original scale.
py::dict model_intervals(PyModel& m, const DArray& x, const std::optional<std::string>& series,
                         const py::object& hist, const py::object& futr, const py::object& stat) {
  ntn::Predictor& p = m.pred();
  const ntn::Conformal& c = p.artifact().conformal;
  NTN_CHECK(!c.empty(), "intervals: the model has no conformal calibration (train with conformal levels, or "
            "`ntneural calibrate`)");
  const py::array_t<double> f = model_predict(m, x, series, hist, futr, stat);
  const Rows r = rows_of(p, x, series, hist, futr, stat, "intervals");
  const std::size_t L = p.input_size(), H = p.horizon(), Q = p.outputs();
  std::vector<py::ssize_t> shape;
  if (x.ndim() == 2) shape.push_back(py::ssize_t(r.B));
  shape.push_back(py::ssize_t(H));
  py::dict out;
  for (std::size_t k = 0; k < c.levels.size(); ++k) {
    py::array_t<double> lo(shape), hi(shape);
    for (std::size_t b = 0; b < r.B; ++b)
      ntn::conformal_interval(c, k, p.artifact().output, p.series_stats(r.series[b]), x.data() + b * L, L,
                              f.data() + b * H * Q, lo.mutable_data() + b * H, hi.mutable_data() + b * H);
    out[py::float_(c.levels[k])] = py::make_tuple(lo, hi);
  }
  return out;
}

// (L,) / (B, L) -> (P, H) / (B, P, H) sample paths of a distribution model.
py::array_t<double> model_sample(PyModel& m, const DArray& x, std::size_t paths, std::uint64_t seed,
                                 const std::optional<std::string>& series, const py::object& hist,
                                 const py::object& futr, const py::object& stat) {
  ntn::Predictor& p = m.pred();
  NTN_CHECK(paths >= 1 && paths <= 100000, "sample: paths must be 1..100000 (got ", paths, ")");
  const Rows r = rows_of(p, x, series, hist, futr, stat, "sample");
  std::vector<py::ssize_t> shape;
  if (x.ndim() == 2) shape.push_back(py::ssize_t(r.B));
  shape.push_back(py::ssize_t(paths));
  shape.push_back(py::ssize_t(p.horizon()));
  py::array_t<double> y(shape);
  const double* xp = x.data();
  double* yp = y.mutable_data();
  {
    py::gil_scoped_release nogil;
    p.sample_batch(xp, r.B, paths, seed, yp, r.series.data(), p.covariates().any() ? &r.cov : nullptr);
  }
  return y;
}

// A float32, C-contiguous, aligned, native-order numpy array seen in place, with no new reference
// or conversion: at a few microseconds a forecast, the generic array casts cost as much as the
// forecast. Anything else: nullopt (the caller converts).
struct F32View {
  float* data;
  int nd;
  py::ssize_t n0, n1;  // shape (n1 = 1 for 1-D)
  bool writeable;
};
std::optional<F32View> f32_view(PyObject* o) {
  const auto& api = py::detail::npy_api::get();
  if (!api.PyArray_Check_(o)) return std::nullopt;
  const auto* a = py::detail::array_proxy(o);
  const auto* d = py::detail::array_descriptor_proxy(a->descr);
  constexpr int need = py::detail::npy_api::NPY_ARRAY_C_CONTIGUOUS_ | py::detail::npy_api::NPY_ARRAY_ALIGNED_;
  if (d->type_num != py::detail::npy_api::NPY_FLOAT_ || (a->flags & need) != need || d->byteorder == '>' ||
      a->nd < 1 || a->nd > 2)
    return std::nullopt;
  return F32View{reinterpret_cast<float*>(a->data), a->nd, a->dimensions[0], a->nd == 2 ? a->dimensions[1] : 1,
                 (a->flags & py::detail::npy_api::NPY_ARRAY_WRITEABLE_) != 0};
}

// The zero-copy serving object: float32 in, float32 out, the GIL released while it computes;
// thread-safe (each calling thread gets a workspace of its own).
struct PyPredictor {
  std::shared_ptr<ntn::Predictor> p;

  std::size_t series_of(py::handle series) const {
    if (series.is_none()) return ntn::Predictor::kNoSeries;
    if (PyLong_Check(series.ptr())) {
      const long long i = PyLong_AsLongLong(series.ptr());
      NTN_CHECK(i >= 0 && std::size_t(i) < std::max<std::size_t>(1, p->artifact().series.size()),
                "Predictor.predict: series index ", i, " is not one of the model's ", p->artifact().series.size(),
                " series");
      return std::size_t(i);
    }
    return p->series_index(series.cast<std::string>());
  }

  py::object predict(py::handle x_in, py::handle series, py::handle out) {
    const std::size_t L = p->input_size(), HQ = p->output_size();
    py::object x_keep;  // a converted copy when x is not float32 C-contiguous
    std::optional<F32View> x = f32_view(x_in.ptr());
    if (!x) {
      x_keep = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(x_in);
      NTN_CHECK(x_keep, "Predictor.predict: x must be an array of numbers, (L,) or (B, L)");
      x = f32_view(x_keep.ptr());
      NTN_CHECK(x, "Predictor.predict: x must be (L,) or (B, L)");
    }
    const std::size_t B = x->nd == 2 ? std::size_t(x->n0) : 1, width = std::size_t(x->nd == 2 ? x->n1 : x->n0);
    NTN_CHECK(width == L, "Predictor.predict: the model reads the last ", L, " values (got ", width, ")");
    const std::size_t s = series_of(series);
    py::object y;
    float* yp;
    if (out.is_none()) {
      std::vector<py::ssize_t> shape;
      if (x->nd == 2) shape.push_back(py::ssize_t(B));
      shape.push_back(py::ssize_t(p->horizon()));
      if (p->outputs() > 1) shape.push_back(py::ssize_t(p->outputs()));
      py::array_t<float> a(shape);
      yp = a.mutable_data();
      y = std::move(a);
    } else {
      const std::optional<F32View> o = f32_view(out.ptr());
      NTN_CHECK(o && o->writeable && std::size_t(o->n0 * o->n1) == B * HQ,
                "Predictor.predict: out must be a writeable C-contiguous float32 array of ", B * HQ, " values");
      yp = o->data;
      y = py::reinterpret_borrow<py::object>(out);
    }
    const float* xp = x->data;
    {
      py::gil_scoped_release nogil;
      if (B == 1) {
        p->predict(xp, yp, s);
      } else {
        std::vector<std::size_t> rows(B, s);
        p->predict_batch(xp, B, yp, rows.data());
      }
    }
    return y;
  }
};

struct PyStream {
  std::shared_ptr<ntn::Predictor> p;  // keeps the predictor alive
  std::unique_ptr<ntn::StreamingPredictor> s;
  std::vector<float> y;
  py::object push(double value) {
    bool ready;
    {
      py::gil_scoped_release nogil;
      ready = s->push(float(value), y.data());
    }
    if (!ready) return py::none();
    py::array_t<float> out(py::ssize_t(y.size()));
    std::copy(y.begin(), y.end(), out.mutable_data());
    return out;
  }
};

ntn::RecordFilter filter_of(const py::kwargs& kw) {
  ntn::RecordFilter f;
  for (auto item : kw) {
    const std::string k = py::str(item.first);
    const py::handle v = item.second;
    if (k == "name") f.name = v.cast<std::string>();
    else if (k == "version") f.version = v.cast<std::int64_t>();
    else if (k == "model_type") f.model_types = {v.cast<std::string>()};
    else if (k == "model_types") f.model_types = v.cast<std::vector<std::string>>();
    else if (k == "tags_any") f.tags_any = v.cast<std::vector<std::string>>();
    else if (k == "tags_all") f.tags_all = v.cast<std::vector<std::string>>();
    else if (k == "created_after") f.created_after = v.cast<std::string>();
    else if (k == "created_before") f.created_before = v.cast<std::string>();
    else if (k == "parent") f.parent = v.cast<std::string>();
    else if (k == "stage") f.stage = v.cast<std::string>();
    else if (k == "limit") f.limit = v.cast<std::size_t>();
    else if (k == "metrics") {  // {"val_mae": (None, 0.5)}
      for (auto m : v.cast<py::dict>()) {
        auto range = m.second.cast<py::tuple>();
        NTN_CHECK(range.size() == 2, "registry filter metrics['", py::str(m.first).cast<std::string>(),
                  "'] must be (min, max) with None for no bound");
        ntn::MetricRange r{py::str(m.first), std::nullopt, std::nullopt};
        if (!range[0].is_none()) r.min = range[0].cast<double>();
        if (!range[1].is_none()) r.max = range[1].cast<double>();
        f.metrics.push_back(r);
      }
    } else if (k == "config") {  // {"model.input_size": 168}
      for (auto c : v.cast<py::dict>()) f.config.push_back({py::str(c.first), to_json(c.second)});
    } else {
      throw ntn::Error(ntn::cat("registry filter: unknown field '", k,
                                "' (name, version, model_type(s), tags_any, tags_all, metrics, created_after, "
                                "created_before, parent, stage, config, limit)"));
    }
  }
  return f;
}

py::list records(const std::vector<ntn::ModelRecord>& rs) {
  py::list out;
  for (const auto& r : rs) out.append(to_py(r.to_json()));
  return out;
}

}  // namespace

PYBIND11_MODULE(_ntneural, m) {
  m.doc() = "ntneural: neural time-series forecasting (C++ library bindings)";
  static py::exception<ntn::Error> error(m, "Error", PyExc_ValueError);
  py::register_exception_translator([](std::exception_ptr e) {
    try {
      if (e) std::rethrow_exception(e);
    } catch (const ntn::Error& x) {
      error(x.what());
    }
  });

  py::class_<PyModel>(m, "Model")
      .def_property_readonly("model_type", [](const PyModel& s) { return s.artifact().model->type(); })
      .def_property_readonly("uuid", [](const PyModel& s) { return s.artifact().uuid; })
      .def_property_readonly("input_size", [](const PyModel& s) { return s.artifact().model->input_size(); })
      .def_property_readonly("horizon", [](const PyModel& s) { return s.artifact().model->horizon(); })
      .def_property_readonly("series", [](const PyModel& s) { return s.artifact().series; })
      .def_property_readonly("summary", [](const PyModel& s) { return to_py(s.summary); })
      .def_property_readonly("test_metrics", [](const PyModel& s) { return to_py(s.test); })
      .def_property_readonly("training", [](const PyModel& s) { return to_py(s.artifact().training); })
      .def("save", [](const PyModel& s, const std::string& path) { ntn::write_file_atomic(path, *s.bytes); },
           py::arg("path"))
      .def("predict", &model_predict, py::arg("history"), py::arg("series") = py::none(), py::arg("hist") = py::none(),
           py::arg("futr") = py::none(), py::arg("stat") = py::none())
      .def("sample", &model_sample, py::arg("history"), py::arg("paths") = 100, py::arg("seed") = 1,
           py::arg("series") = py::none(), py::arg("hist") = py::none(), py::arg("futr") = py::none(),
           py::arg("stat") = py::none())
      .def_property_readonly("conformal",
                             [](const PyModel& s) -> py::object {  // levels, score, windows; None without
                               const ntn::Conformal& c = s.artifact().conformal;
                               if (c.empty()) return py::none();
                               py::dict d;
                               d["levels"] = c.levels, d["score"] = ntn::conformal_score_name(c.score);
                               d["windows"] = c.windows;
                               d["half_life"] = c.half_life;
                               return d;
                             })
      .def("intervals", &model_intervals, py::arg("history"), py::arg("series") = py::none(),
           py::arg("hist") = py::none(), py::arg("futr") = py::none(), py::arg("stat") = py::none())
      .def_property_readonly("covariates",
                             [](const PyModel& s) {
                               const ntn::CovariateInfo c = s.artifact().covariates;
                               auto names = [](const std::vector<ntn::CovariateColumn>& v) {
                                 std::vector<std::string> n;
                                 for (const auto& x : v) n.push_back(x.name);
                                 return n;
                               };
                               py::dict d;
                               d["hist"] = names(c.hist), d["futr"] = names(c.futr), d["stat"] = names(c.stat);
                               return d;
                             })
      .def(
          "quantize",
          [](const PyModel& s, const std::string& to) {
            return PyModel::from_artifact(ntn::quantize(s.artifact(), ntn::parse_precision(to)), s.source);
          },
          py::arg("to") = "int8")
      .def(
          "backtest",
          [](PyModel& s, const py::array_t<double, py::array::c_style | py::array::forcecast>& y, std::size_t origins,
             std::size_t step, std::size_t season, const std::string& series) {
            NTN_CHECK(y.ndim() == 1, "backtest: y must be a 1-D array");
            ntn::BacktestSpec spec;
            spec.origins = origins, spec.step = step, spec.season = season;
            std::vector<ntn::Predictor*> ps = {&s.pred()};
            const auto& names = s.pred().artifact().series;
            const std::string name = series.empty() && names.size() == 1 ? names[0] : series;
            ntn::BacktestResult r;
            {
              py::gil_scoped_release nogil;
              r = ntn::backtest(ps, name, y.data(), std::size_t(y.shape(0)), spec);
            }
            return to_py(r.aggregate);
          },
          py::arg("y"), py::arg("origins") = 1000, py::arg("step") = 1, py::arg("season") = 0, py::arg("series") = "");

  m.def("_train", &train, py::arg("data"), py::arg("model"), py::arg("input_size"), py::arg("horizon"),
        py::arg("train_cfg"), py::arg("model_cfg"), py::arg("names"), py::arg("val_ratio"), py::arg("test_ratio"),
        py::arg("scaler"), py::arg("threads"), py::arg("checkpoint") = "", py::arg("init_from") = "",
        py::arg("targets") = std::vector<std::string>{}, py::arg("covariates") = py::dict(),
        py::arg("times") = std::vector<std::string>{});
  m.def(
      "load",
      [](const std::string& model) { return PyModel::from_file(ntn::resolve_model_file(model)); },
      py::arg("model"), "Load an artifact file or registry:DB:REF.");

  py::class_<PyPredictor>(m, "Predictor")
      .def(py::init([](py::object model, const std::string& precision, std::size_t max_batch, std::size_t threads) {
             ntn::PredictorOptions o{.precision = ntn::parse_precision(precision), .max_batch = max_batch,
                                     .forecast_threads = threads};
             PyPredictor p;
             if (py::isinstance<PyModel>(model)) {
               p.p = std::make_shared<ntn::Predictor>(model.cast<PyModel&>().artifact(), o);
             } else {
               const std::string path = ntn::resolve_model_file(model.cast<std::string>());
               py::gil_scoped_release nogil;
               p.p = std::make_shared<ntn::Predictor>(path, o);
             }
             return p;
           }),
           py::arg("model"), py::arg("precision") = "fp32", py::arg("max_batch") = 32, py::arg("threads") = 1)
      .def_property_readonly("input_size", [](const PyPredictor& s) { return s.p->input_size(); })
      .def_property_readonly("horizon", [](const PyPredictor& s) { return s.p->horizon(); })
      .def_property_readonly("outputs", [](const PyPredictor& s) { return s.p->outputs(); })
      .def("series_index", [](const PyPredictor& s, const std::string& name) { return s.p->series_index(name); },
           py::arg("name"))
      .def("predict", &PyPredictor::predict, py::arg("x"), py::arg("series") = py::none(), py::arg("out") = py::none());

  py::class_<PyStream>(m, "StreamingPredictor")
      .def(py::init([](const PyPredictor& pred, const std::optional<std::string>& series, double aci, double gamma) {
             PyStream s;
             s.p = pred.p;
             s.s = std::make_unique<ntn::StreamingPredictor>(*s.p, series ? s.p->series_index(*series)
                                                                          : ntn::Predictor::kNoSeries);
             if (aci > 0) s.s->enable_adaptive(aci, gamma);
             s.y.resize(s.p->output_size());
             return s;
           }),
           py::arg("predictor"), py::arg("series") = py::none(), py::arg("aci") = 0.0,
           py::arg("aci_gamma") = ntn::kAciGamma)
      .def("push", &PyStream::push, py::arg("value"))
      .def_property_readonly("interval",
                             [](const PyStream& s) -> py::object {  // the last forecast's ACI (lo, hi), or None
                               if (!s.s->adaptive() || s.s->interval_lo().empty()) return py::none();
                               return py::make_tuple(py::array_t<double>(py::ssize_t(s.s->interval_lo().size()),
                                                                         s.s->interval_lo().data()),
                                                     py::array_t<double>(py::ssize_t(s.s->interval_hi().size()),
                                                                         s.s->interval_hi().data()));
                             })
      .def("snapshot", [](const PyStream& s) { return py::bytes(s.s->snapshot()); })
      .def("restore", [](PyStream& s, const py::bytes& b) { s.s->restore(std::string(b)); }, py::arg("state"));

  m.def(
      "series_signature",
      [](const py::array_t<double, py::array::c_style | py::array::forcecast>& x, std::size_t season) {
        NTN_CHECK(x.ndim() == 1, "series_signature: x must be a 1-D array");
        return ntn::series_signature(x.data(), std::size_t(x.shape(0)), season);
      },
      py::arg("x"), py::arg("season") = 0);
  m.def("series_signature_names", &ntn::series_signature_names);
  m.def(
      "calendar_feature",
      [](const std::string& name, const DArray& unix_seconds) {
        py::array_t<double> out(unix_seconds.request().shape);
        const double* t = unix_seconds.data();
        double* o = out.mutable_data();
        for (py::ssize_t i = 0; i < unix_seconds.size(); ++i) o[i] = ntn::calendar_feature(name, t[i]);
        return out;
      },
      py::arg("name"), py::arg("unix_seconds"));
  m.def("future_times", &ntn::future_times, py::arg("times"), py::arg("h"));

  py::class_<ntn::Registry>(m, "Registry")
      .def(py::init([](const std::string& path, bool create) { return ntn::Registry::open(path, create); }),
           py::arg("path"), py::arg("create") = true)
      .def(
          "add",
          [](ntn::Registry& r, py::object model, const std::string& name, const std::vector<std::string>& tags,
             const py::dict& metrics, const std::string& parent, const std::string& stage, py::object signature,
             const std::string& checkpoint) {
            ntn::RegisterSpec s;
            s.name = name, s.tags = tags, s.metrics = to_json(metrics), s.parent = parent, s.stage = stage;
            s.checkpoint = checkpoint;
            if (!signature.is_none()) s.signature = signature.cast<std::vector<double>>();
            std::string path;
            std::string tmp;
            if (py::isinstance<PyModel>(model)) {
              tmp = ntn::cat(r.path(), ".import.", ::getpid(), ".ntn");
              ntn::write_file_atomic(tmp, *model.cast<PyModel&>().bytes);
              path = tmp;
            } else {
              path = model.cast<std::string>();
            }
            ntn::ModelRecord rec;
            try {
              py::gil_scoped_release nogil;
              rec = r.add_file(path, s);
            } catch (...) {
              if (!tmp.empty()) std::remove(tmp.c_str());
              throw;
            }
            if (!tmp.empty()) std::remove(tmp.c_str());
            return to_py(rec.to_json());
          },
          py::arg("model"), py::arg("name"), py::arg("tags") = std::vector<std::string>{},
          py::arg("metrics") = py::dict(), py::arg("parent") = "", py::arg("stage") = "",
          py::arg("signature") = py::none(), py::arg("checkpoint") = "")
      .def("list",
           [](const ntn::Registry& r, const py::kwargs& kw) {
             const ntn::RecordFilter f = filter_of(kw);
             std::vector<ntn::ModelRecord> rs;
             {
               py::gil_scoped_release nogil;
               rs = r.list(f);
             }
             return records(rs);
           })
      .def("get", [](const ntn::Registry& r, const std::string& ref) { return to_py(r.get(ref).to_json()); },
           py::arg("ref"))
      .def(
          "load",
          [](const ntn::Registry& r, const std::string& ref) { return PyModel::from_file(r.artifact_path(r.get(ref))); },
          py::arg("ref"))
      .def(
          "checkpoint_path",
          [](const ntn::Registry& r, const std::string& ref) -> py::object {
            const std::string p = r.checkpoint_path(r.get(ref));
            return p.empty() ? py::object(py::none()) : py::object(py::str(p));
          },
          py::arg("ref"))
      .def(
          "search_like",
          [](const ntn::Registry& r, const std::vector<double>& sig, std::size_t k, const std::string& how,
             const py::kwargs& kw) {
            const ntn::RecordFilter f = filter_of(kw);
            const ntn::Similarity sim = ntn::parse_similarity(how);
            std::vector<ntn::SimilarModel> found;
            {
              py::gil_scoped_release nogil;
              found = r.search_like(sig, k, sim, f);
            }
            py::list out;
            for (const auto& m : found)
              out.append(py::make_tuple(to_py(m.record.to_json()), m.score));
            return out;
          },
          py::arg("signature"), py::arg("k") = 5, py::arg("similarity") = "cosine")
      .def("tag", &ntn::Registry::tag, py::arg("ref"), py::arg("add") = std::vector<std::string>{},
           py::arg("remove") = std::vector<std::string>{})
      .def("promote", &ntn::Registry::promote, py::arg("ref"), py::arg("stage"))
      .def("remove", &ntn::Registry::remove, py::arg("ref"))
      .def("check",
           [](const ntn::Registry& r) {
             ntn::RegistryCheck c;
             {
               py::gil_scoped_release nogil;
               c = r.check();
             }
             return py::dict(py::arg("records") = c.records, py::arg("ok") = c.ok, py::arg("problems") = c.problems);
           })
      .def("gc", [](ntn::Registry& r) {
        const ntn::RegistryGc g = r.gc();
        return py::dict(py::arg("objects_removed") = g.objects_removed,
                        py::arg("temporaries_removed") = g.temporaries_removed, py::arg("bytes_freed") = g.bytes_freed);
      });
}
