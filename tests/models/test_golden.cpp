// Golden tests against PyTorch: the same weights give the same forecast, loss, every parameter
// gradient and the first 5 Adam steps (fixtures from dev/gen_golden.py, PyTorch fp32). DeepAR:
// its teacher-forced training forward, the Student-t likelihood (torch.distributions), and the
// path fed its own locations.
// Tolerance: relative error <= 1e-5 per tensor, max |ours - torch| / max |torch|.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "ntn/loss.h"
#include "ntn/models.h"
#include "ntn/optim.h"
#include "ntn/safetensors.h"

namespace ntn {
namespace {

const std::string kFixtures = NTN_FIXTURES;

double rel_err(const float* got, const float* want, std::size_t n) {
  double diff = 0, scale = 0;
  for (std::size_t i = 0; i < n; ++i) {
    diff = std::max(diff, std::fabs(double(got[i]) - double(want[i])));
    scale = std::max(scale, std::fabs(double(want[i])));
  }
  return scale > 0 ? diff / scale : diff;
}

const float* tensor(const SafeTensorsFile& f, const std::string& name, std::size_t* n = nullptr) {
  const auto& info = f.tensors().at(name);
  if (n) *n = std::size_t(info.shape.numel());
  return static_cast<const float*>(f.get(name, DType::f32, info.shape));
}

void run_golden(const std::string& file) {
  const SafeTensorsFile f = SafeTensorsFile::read(kFixtures + "/" + file);
  auto model = make_model<float>(nlohmann::json::parse(f.meta("model_config")));
  auto& ps = model->params();
  for (std::size_t i = 0; i < ps.entries().size(); ++i) {
    const auto& e = ps.entries()[i];
    std::memcpy(ps.value(i), f.get("param/" + e.name, DType::f32, e.shape), e.size * sizeof(float));
  }
  std::size_t nx, ny;
  const float* x = tensor(f, "x", &nx);
  const float* y = tensor(f, "y", &ny);
  const std::size_t L = model->input_size(), H = model->horizon(), Q = model->outputs(), B = nx / L;
  ASSERT_EQ(ny, B * H);
  // mse: the forecast of the window; nll (DeepAR): the teacher-forced training forward (fed the
  // targets) scored by the likelihood, and the path fed its own locations checked on its own.
  const LossSpec spec = parse_loss(f.meta("loss"), {}, 1.0f, f.meta("loss") == "nll" ? "student_t" : "");
  Batch<float> in;
  in.B = B;
  in.y = x;
  nn::RunCtx ctx;
  if (spec.kind == LossKind::nll) {
    in.y_futr = y;
    ctx.training = true;
  }
  auto ws = model->make_workspace(B);
  std::vector<float> out(B * H * Q), dout(B * H * Q);
  if (spec.kind == LossKind::nll) {
    model->forward(*ws, x, out.data(), B, {});
    EXPECT_LE(rel_err(out.data(), tensor(f, "mean_path"), B * H * Q), 1e-5) << file << " mean path";
  }
  model->forward(*ws, in, out.data(), ctx);
  EXPECT_LE(rel_err(out.data(), tensor(f, "forecast"), B * H * Q), 1e-5) << file << " forecast";
  const float scale = 1.0f / float(B * H * spec.terms());
  const double loss = loss_sum_grad(spec, out.data(), y, dout.data(), B, H, scale) * double(scale);
  EXPECT_LE(std::fabs(loss - tensor(f, "loss")[0]) / std::fabs(tensor(f, "loss")[0]), 1e-5) << file << " loss";
  ps.zero_grad();
  model->backward(*ws, dout.data(), ps.grads(), nullptr, B, ctx);
  // A parameter whose true gradient is zero (attention's key bias: adding q.b to every score of a
  // query leaves its softmax unchanged) has float rounding noise for a gradient on both sides:
  // both must be noise-sized (1e-6 of the largest gradient), and Adam, which normalises that
  // noise into full-sized steps of either sign, is not compared for it.
  double gmax = 0;
  for (std::size_t i = 0; i < ps.entries().size(); ++i) {
    const auto& e = ps.entries()[i];
    const float* want = tensor(f, "grad/" + e.name);
    for (std::size_t j = 0; j < e.size; ++j) gmax = std::max(gmax, std::fabs(double(want[j])));
  }
  std::vector<bool> zero_grad(ps.entries().size(), false);
  for (std::size_t i = 0; i < ps.entries().size(); ++i) {
    const auto& e = ps.entries()[i];
    const float* want = tensor(f, "grad/" + e.name);
    double wmax = 0, gotmax = 0;
    for (std::size_t j = 0; j < e.size; ++j) {
      wmax = std::max(wmax, std::fabs(double(want[j])));
      gotmax = std::max(gotmax, std::fabs(double(ps.grad(i)[j])));
    }
    if (wmax <= 1e-6 * gmax) {
      zero_grad[i] = true;
      EXPECT_LE(gotmax, 1e-6 * gmax) << file << " gradient of " << e.name << " (zero in exact arithmetic)";
      continue;
    }
    EXPECT_LE(rel_err(ps.grad(i), want, e.size), 1e-5) << file << " gradient of " << e.name;
  }
  OptimConfig oc;
  oc.lr = std::stof(f.meta("lr"));
  Optimizer opt(oc, ps);
  const int steps = std::stoi(f.meta("adam_steps"));
  for (int k = 1; k <= steps; ++k) {
    model->forward(*ws, in, out.data(), ctx);
    loss_sum_grad(spec, out.data(), y, dout.data(), B, H, scale);
    ps.zero_grad();
    model->backward(*ws, dout.data(), ps.grads(), nullptr, B, ctx);
    opt.step(ps, ps.grads(), oc.lr);
    for (std::size_t i = 0; i < ps.entries().size(); ++i) {
      const auto& e = ps.entries()[i];
      if (zero_grad[i]) continue;
      EXPECT_LE(rel_err(ps.value(i), tensor(f, "step" + std::to_string(k) + "/" + e.name), e.size), 1e-5)
          << file << " Adam step " << k << " " << e.name;
    }
  }
}

TEST(Golden, NhitsMatchesPyTorch) { run_golden("golden_nhits.safetensors"); }
TEST(Golden, NbeatsMatchesPyTorch) { run_golden("golden_nbeats.safetensors"); }
TEST(Golden, GruMatchesPyTorch) { run_golden("golden_gru.safetensors"); }
TEST(Golden, LstmMatchesPyTorch) { run_golden("golden_lstm.safetensors"); }
TEST(Golden, TcnMatchesPyTorch) { run_golden("golden_tcn.safetensors"); }
TEST(Golden, TransformerMatchesPyTorch) { run_golden("golden_transformer.safetensors"); }
TEST(Golden, TransformerPreNormMatchesPyTorch) { run_golden("golden_transformer_prenorm.safetensors"); }
TEST(Golden, LstmAttentionMatchesPyTorch) { run_golden("golden_lstm_attention.safetensors"); }
TEST(Golden, DeepArStudentTMatchesPyTorch) { run_golden("golden_deepar.safetensors"); }

}  // namespace
}  // namespace ntn
