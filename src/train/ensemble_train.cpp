// --ensemble K (ntn/auto.h): the members one by one, then one "ensemble" model.
#include <algorithm>
#include <cstring>

#include "ntn/auto.h"
#include "ntn/error.h"
#include "ntn/fields.h"
#include "ntn/timing.h"
#include "train/job_frame.h"

namespace ntn {

using nlohmann::json;

namespace {

// Score of a model on the validation windows with the trainer's validation metric (tc.val_metric).
double validation_score(Model<float>& model, const Prepared& p, const TrainConfig& tc) {
  if (p.val.empty()) return -1;
  Trainer tr(model, p.store, p.train, p.val, tc);
  return tr.evaluate(p.val);
}

}  // namespace

TrainResult ensemble_train(const TrainJob& job, const EnsembleSpec& spec) {
  const double t0 = now_s();
  NTN_CHECK(spec.members >= 1 && spec.members <= 256, "--ensemble: expected 1..256 members (got ", spec.members, ")");
  NTN_CHECK(spec.combine == "median" || spec.combine == "mean", "--ensemble combine '", spec.combine,
            "': expected median or mean");
  NTN_CHECK(!job.resume && job.train.checkpoint_path.empty() && job.init_from.empty(),
            "--ensemble trains its members one after the other and keeps no checkpoint (drop --checkpoint / --resume / --init-from)");
  const detail::JobFrame f = detail::job_frame(job);
  const std::string type = json_string(f.cfg, "model config", "type", "");
  const ModelInfo& info = model_info(type);
  NTN_CHECK(!info.composite, "--ensemble: the members' model is --model (not ", type, ")");
  NTN_CHECK(!info.direct_fit, "--ensemble: ", type, " is fitted on each window directly (nothing to vary by seed)");
  NTN_CHECK(output_spec(job.train.loss).kind != OutputKind::distribution,
            "--ensemble: members are point or quantile models (the median of distribution parameters is no "
            "distribution); train a distribution model without --ensemble");
  NTN_CHECK(spec.losses.empty() || output_spec(job.train.loss).kind == OutputKind::point, "--ensemble: the members' ",
            "losses (", join(spec.losses), ") train a point forecast, but the job's ", loss_name(job.train.loss.kind),
            " loss does not; give the members one loss (ntneural: --loss fixes it for every member)");
  for (std::size_t m : spec.multipliers)
    NTN_CHECK(m >= 1 && m <= limits::kWindow.hi / std::max<std::size_t>(f.H, 1), "--ensemble: input multiplier ", m,
              " is outside 1..", limits::kWindow.hi / std::max<std::size_t>(f.H, 1), " for horizon ", f.H);
  const std::string metric = job.train.val_metric != "loss"
                                 ? job.train.val_metric
                                 : detail::validation_metric(spec.metric, f.data.protocol);

  // Each member's input size, loss and seed.
  const std::size_t K = spec.members, M = spec.multipliers.size(), N = spec.losses.size();
  const std::size_t L0 = f.L0;
  std::vector<std::size_t> Ls(K, L0);
  std::vector<TrainConfig> tcs(K, job.train);
  std::size_t Lmax = 0;
  for (std::size_t k = 0; k < K; ++k) {
    if (M && !f.L) Ls[k] = spec.multipliers[k % M] * f.H;
    Lmax = std::max(Lmax, Ls[k]);
    TrainConfig& tc = tcs[k];
    if (N) tc.loss = parse_loss(spec.losses[(k + k / std::max<std::size_t>(M, 1)) % N], {}, job.train.loss.delta);
    NTN_CHECK(job.train.seed <= UINT64_MAX - k, "--seed: ", job.train.seed, " + member ", k, " overflows");
    tc.seed = job.train.seed + k;
    tc.val_metric = metric;
    tc.log_every = 0;
  }

  // One preparation for the longest input: every member sees the same windows and window scaler.
  TrainResult r;
  json probe = f.cfg;
  r.prepared = detail::prepare_model(f, Lmax, tcs[0], probe);
  const Prepared& p = r.prepared;
  NTN_CHECK(!p.covariates.counts().any(), "--ensemble: members take no covariates (train without the covariate "
                                          "flags, or without --ensemble)");
  const std::size_t Q = probe.at("outputs").get<std::size_t>();
  auto ensemble_config = [&](json members) {
    return json{{"type", "ensemble"}, {"input_size", Lmax},   {"horizon", f.H},
                {"outputs", Q},       {"combine", spec.combine}, {"members", std::move(members)}};
  };

  json report = {{"members", K},           {"combine", spec.combine}, {"metric", metric},
                 {"input_size", Lmax},     {"multipliers", spec.multipliers}, {"losses", spec.losses},
                 {"refit", spec.refit}};
  // The joined model: member k's parameters are the trained one-member ensemble's, renamed
  // members.0 -> members.k.
  auto join = [&](const std::vector<const Model<float>*>& ms, const json& cfgs) {
    auto joint = make_model<float>(ensemble_config(cfgs));
    auto& ps = joint->params();
    for (std::size_t k = 0; k < ms.size(); ++k) {
      const auto& src = ms[k]->params();
      const std::string from = "members.0.", to = cat("members.", k, ".");
      for (std::size_t i = 0; i < src.entries().size(); ++i) {
        const auto& e = src.entries()[i];
        const std::size_t j = ps.index_of(to + e.name.substr(from.size()));
        NTN_CHECK(ps.entries()[j].size == e.size, "--ensemble: member ", k, " parameter ", e.name, " changed shape");
        std::memcpy(ps.value(j), src.value(i), e.size * sizeof(float));
      }
    }
    return joint;
  };
  std::vector<std::unique_ptr<Model<float>>> validated;  // refit: the members as validation chose them
  json list = json::array(), member_cfgs = json::array();
  TrainSummary total;
  for (std::size_t k = 0; k < K; ++k) {
    const double s0 = now_s();
    json mcfg = f.cfg;
    detail::complete_config(mcfg, p, tcs[k], Ls[k], f.H);
    TrainConfig tc = tcs[k];
    derive_schedule(tc, p.train.size());
    auto model = make_model<float>(ensemble_config(json::array({mcfg})));
    model->init(tc.seed);
    TrainSummary s;
    {
      Trainer tr(*model, p.store, p.train, p.val, tc);
      s = tr.run();
    }
    const double score = validation_score(*model, p, tc);
    json j = {{"member", k},
              {"input_size", Ls[k]},
              {"loss", loss_name(tc.loss.kind)},
              {"seed", tc.seed},
              {"steps", s.steps},
              {"best_step", s.best_step},
              {"stopped_early", s.stopped_early},
              {"seconds", now_s() - s0}};
    if (score >= 0) j["score"] = score;
    member_cfgs.push_back(model->config().at("members").at(0));
    total.steps += s.steps;
    total.seconds += s.seconds;
    if (spec.refit && !p.val.empty()) {
      // Again from the same initial weights on training + validation, to the best validated step
      // with the same schedule (as --auto-refit does for one model).
      validated.push_back(std::move(model));
      model = make_model<float>(ensemble_config(json::array({mcfg})));
      model->init(tc.seed);
      const TrainSummary rs = detail::refit(*model, p, tc, s.best_step ? s.best_step : s.steps, j["refit"]);
      j["seconds"] = now_s() - s0;
      total.steps += rs.steps;
      total.seconds += rs.seconds;
    }
    r.members.push_back(Artifact::from_training(std::move(model), p, tc, s));
    total.last_train_loss = s.last_train_loss;
    if (spec.on_member) spec.on_member(j);
    list.push_back(std::move(j));
  }

  std::vector<const Model<float>*> final_members;
  for (const Artifact& a : r.members) final_members.push_back(a.model.get());
  auto joint = join(final_members, member_cfgs);
  TrainConfig tc = job.train;
  tc.val_metric = metric;
  derive_schedule(tc, p.train.size());
  // The validation score of the members validation chose (a refit member has seen the validation part).
  if (validated.empty()) {
    total.best_val_loss = validation_score(*joint, p, tc);
  } else {
    std::vector<const Model<float>*> vs;
    for (const auto& m : validated) vs.push_back(m.get());
    total.best_val_loss = validation_score(*join(vs, member_cfgs), p, tc);
  }
  report["member_runs"] = std::move(list);
  if (total.best_val_loss >= 0) report["score"] = total.best_val_loss;
  report["seconds"] = now_s() - t0;
  r.summary = total;
  r.artifact = Artifact::from_training(std::move(joint), p, tc, total);
  r.artifact.training["ensemble"] = report;
  r.search = std::move(report);
  detail::add_conformal(r, job, validated.empty());  // a refit joint model has seen the validation windows
  return r;
}

TrainResult auto_ensemble_train(const TrainJob& job, const AutoSpec& search, const EnsembleSpec& spec) {
  const double t0 = now_s();
  AutoSpec first = search;
  first.refit = false;  // the members are refit, not the search's winner
  first.fixed.push_back("calendar");  // the members take no covariates
  const TrainResult s = auto_train(job, first);
  TrainJob j = job;
  json tc = job.train.to_json();
  json chosen = s.search.at("chosen_params");
  chosen.erase("input_size_multiplier");  // the members' input sizes are the recipe's
  std::size_t L = 0;
  detail::apply_draw(chosen, 0, L, j.data, tc, j.model);
  j.train = TrainConfig::from_json(tc);
  EnsembleSpec es = spec;
  es.refit = es.refit || search.refit;
  TrainResult r = ensemble_train(j, es);
  r.search["auto"] = s.search;
  r.search["seconds"] = now_s() - t0;
  r.artifact.training["search"] = s.search;
  r.artifact.training["ensemble"]["seconds"] = r.search["seconds"];
  return r;
}

}  // namespace ntn
