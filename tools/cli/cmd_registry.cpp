// ntneural registry: add / list / show / search / tag / promote / rm / check / gc over one
// registry file (the library's ntn::Registry; see ntn/registry.h).
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>

#include "commands.h"
#include "common.h"
#include "ntn/csv.h"
#include "ntn/error.h"
#include "ntn/registry.h"
#include "ntn/safetensors.h"

namespace ntn::cli {
namespace {

using nlohmann::json;

// The filter options shared by list and search.
struct FilterOpts {
  std::string name, types, tags_any, tags_all, created_after, created_before, parent, stage;
  std::vector<std::string> metrics, config;
  std::int64_t version = 0;
  std::size_t limit = 0;
};

void add_filter_options(CLI::App& app, FilterOpts& o) {
  app.add_option("--name", o.name, "Only models of this name");
  add_uint(app, "--version", o.version, {1, std::uint64_t(1) << 62}, "Only this version (with --name)");
  app.add_option("--type", o.types, "Only these model types (comma-separated, any of)");
  app.add_option("--tag-any", o.tags_any, "Only models with at least one of these tags (comma-separated)");
  app.add_option("--tag-all", o.tags_all, "Only models with every one of these tags (comma-separated)");
  app.add_option("--metric", o.metrics, "Metric condition, repeatable: NAME<=X, NAME>=X or NAME=X (e.g. val_mae<=0.5)");
  app.add_option("--created-after", o.created_after, "Only models created after this ISO 8601 UTC time (e.g. 2026-01-31)");
  app.add_option("--created-before", o.created_before, "Only models created before this ISO 8601 UTC time");
  app.add_option("--parent", o.parent, "Only models refit / fine-tuned from this uuid");
  app.add_option("--stage", o.stage, "Only models in this stage: staging, production or archived");
  app.add_option("--config", o.config,
                 "Config field condition, repeatable: model.FIELD=JSON or train.FIELD=JSON (e.g. model.input_size=168)");
}

std::vector<std::string> list_or_empty(const std::string& s, const char* what) {
  return s.empty() ? std::vector<std::string>{} : split_list(s, what);
}

// "NAME<=X", "NAME>=X", "NAME=X" -> a metric range.
MetricRange parse_metric_condition(const std::string& text) {
  for (const char* op : {"<=", ">=", "="}) {
    const std::size_t at = text.find(op);
    if (at == std::string::npos) continue;
    MetricRange r;
    r.metric = text.substr(0, at);
    const double v = parse_real("--metric", text.substr(at + std::strlen(op)), {-1e300, 1e300});
    if (op[0] != '>') r.max = v;
    if (op[0] != '<') r.min = v;
    return r;
  }
  throw Error(cat("--metric '", text, "': expected NAME<=X, NAME>=X or NAME=X"));
}

// "PATH=JSON" (a value that is not JSON is taken as a string).
ConfigMatch parse_config_condition(const std::string& text) {
  const std::size_t at = text.find('=');
  NTN_CHECK(at != std::string::npos && at > 0, "--config '", text, "': expected model.FIELD=VALUE or train.FIELD=VALUE");
  ConfigMatch c;
  c.path = text.substr(0, at);
  const std::string v = text.substr(at + 1);
  c.value = json::parse(v, nullptr, /*allow_exceptions=*/false);
  if (c.value.is_discarded()) c.value = v;
  return c;
}

RecordFilter record_filter(const FilterOpts& o) {
  RecordFilter f;
  f.name = o.name;
  if (o.version) {
    NTN_CHECK(!o.name.empty(), "--version needs --name");
    f.version = o.version;
  }
  f.model_types = list_or_empty(o.types, "--type");
  f.tags_any = list_or_empty(o.tags_any, "--tag-any");
  f.tags_all = list_or_empty(o.tags_all, "--tag-all");
  for (const auto& m : o.metrics) f.metrics.push_back(parse_metric_condition(m));
  for (const auto& c : o.config) f.config.push_back(parse_config_condition(c));
  f.created_after = o.created_after;
  f.created_before = o.created_before;
  f.parent = o.parent;
  f.stage = o.stage;
  f.limit = o.limit;
  return f;
}

// The data a signature is computed from: --data FILE (wide CSV; --columns, else every numeric
// column; --rows: the first N rows) or, for `add` without --data, the training part the artifact
// records (wide files, and M4 row files for the series it names).
struct SignatureOpts {
  std::string data, columns;
  std::size_t rows = 0, season = 0;
  bool no_signature = false;
};

void add_signature_options(CLI::App& app, SignatureOpts& o, const char* data_option, const char* data_help) {
  app.add_option(data_option, o.data, data_help);
  app.add_option("--columns", o.columns, "Series columns of the data (comma-separated; default: every numeric column)");
  add_uint(app, "--rows", o.rows, {0, std::uint64_t(1) << 40}, "Only the first N rows of the data (0: all)");
  add_uint(app, "--season", o.season, limits::kSeason,
           "Season of the signature (0: from the dates' spacing, none without dates)");
}

DataDescription describe_file(const std::string& path, const std::string& columns, std::size_t rows,
                              std::size_t season, json source) {
  CsvOptions co;
  co.columns = list_or_empty(columns, "--columns");
  Frame f = read_wide_csv(path, co);
  const std::size_t n = rows ? std::min(rows, f.rows()) : f.rows();
  if (season == 0 && time_is_dates(f)) season = infer_season(f.time);
  std::vector<std::vector<double>> cols;
  for (auto& c : f.cols) cols.emplace_back(c.begin(), c.begin() + std::ptrdiff_t(n));
  source["path"] = path;
  source["columns"] = f.names;
  source["rows"] = n;
  try {
    return describe_training_data(f.names, cols, season, source);
  } catch (const Error& e) {
    throw Error(cat("'", path, "': ", e.what()));
  }
}

void print_records(const std::vector<ModelRecord>& rs, const std::vector<double>* scores, bool as_json) {
  if (as_json) {
    json out = json::array();
    for (std::size_t i = 0; i < rs.size(); ++i) {
      json j = rs[i].to_json();
      if (scores) j["score"] = (*scores)[i];
      out.push_back(j);
    }
    std::printf("%s\n", out.dump().c_str());
    return;
  }
  std::printf("%-24s %5s %-16s %-10s %-20s %s%s\n", "name", "ver", "type", "stage", "created", scores ? "score     " : "",
              "tags / metrics");
  for (std::size_t i = 0; i < rs.size(); ++i) {
    const ModelRecord& r = rs[i];
    std::string tags;
    for (const auto& t : r.tags) tags += (tags.empty() ? "" : ",") + t;
    std::string score = scores ? cat((*scores)[i]) : "";
    if (scores) score.resize(std::max<std::size_t>(score.size(), 9), ' '), score += ' ';
    std::printf("%-24s %5lld %-16s %-10s %-20s %s%s %s\n", r.name.c_str(), (long long)r.version, r.model_type.c_str(),
                r.stage.empty() ? "-" : r.stage.c_str(), r.created.c_str(), score.c_str(), tags.empty() ? "-" : tags.c_str(),
                r.metrics.dump().c_str());
  }
}

}  // namespace

// The training data the artifact records, when its file is still there.
std::optional<DataDescription> describe_artifact_data(const Artifact& a, std::size_t season) {
  if (!a.training.contains("data") || !a.training["data"].contains("source")) return std::nullopt;
  const json& src = a.training["data"]["source"];
  const std::string path = src.value("path", "");
  if (path.empty() || !std::ifstream(path).good()) return std::nullopt;
  const std::string protocol = src.value("protocol", "none");
  std::size_t train_rows = 0;
  if (src.contains("rows") && src["rows"].contains("train")) train_rows = src["rows"]["train"].get<std::size_t>();
  if (protocol == "m4") {
    const SeriesSet set = read_m4_csv(path);
    std::vector<std::vector<double>> cols;
    for (const auto& id : a.series) cols.push_back(set.values[set.index_of(id)]);
    if (season == 0 && !a.series.empty()) season = m4_season(a.series[0]);  // as prepare() infers it
    return describe_training_data(a.series, cols, season, {{"path", path}, {"protocol", protocol}});
  }
  std::string cols;
  for (const auto& c : src.value("columns", std::vector<std::string>{})) cols += (cols.empty() ? "" : ",") + c;
  // A model trained with ltsf / none reads the first rows as its training part.
  return describe_file(path, cols, train_rows, season, {{"protocol", protocol}});
}

Run add_registry(CLI::App& app) {
  app.require_subcommand(1);
  auto db = std::make_shared<std::string>();
  auto as_json = std::make_shared<bool>(false);
  auto common = [db, as_json](CLI::App* sub, bool with_json = true) {
    sub->add_option("db", *db, "Registry file (SQLite; its artifacts go to DB.objects/)")->required();
    if (with_json) sub->add_flag("--json", *as_json, "Print JSON");
  };
  auto runs = std::make_shared<std::vector<std::pair<CLI::App*, Run>>>();

  {  // add
    CLI::App* sub = app.add_subcommand("add", "Register a model artifact as the next version of a name");
    common(sub);
    struct O {
      std::string model, name, parent, stage, checkpoint;
      std::vector<std::string> tags, metrics;
      SignatureOpts sig;
    };
    auto o = std::make_shared<O>();
    sub->add_option("model", o->model, "Model artifact (.ntn)")->required();
    sub->add_option("--name", o->name, "Model name: letters, digits, '.', '_', '-'")->required();
    sub->add_option("--tag", o->tags, "Tag, repeatable (or comma-separated)")->delimiter(',');
    sub->add_option("--metric", o->metrics, "Metric NAME=X, repeatable (e.g. val_mae=0.41)");
    sub->add_option("--parent", o->parent, "uuid of the model this one was refit / fine-tuned from");
    sub->add_option("--stage", o->stage, "staging, production or archived");
    sub->add_option("--checkpoint", o->checkpoint,
                    "Training checkpoint of this model to store with it (what `train --init-from registry:DB:REF` "
                    "continues)");
    add_signature_options(*sub, o->sig, "--data",
                          "Training data for the signature (default: the file and training rows the artifact records)");
    sub->add_flag("--no-signature", o->sig.no_signature, "Register without a signature (not found by search --like)");
    runs->emplace_back(sub, [db, as_json, o] {
      RegisterSpec spec;
      spec.name = o->name;
      spec.tags = o->tags;
      spec.parent = o->parent;
      spec.stage = o->stage;
      spec.checkpoint = o->checkpoint;
      for (const auto& m : o->metrics) {
        const MetricRange r = parse_metric_condition(m);
        NTN_CHECK(r.min && r.max && *r.min == *r.max, "--metric '", m, "': expected NAME=X");
        spec.metrics[r.metric] = *r.min;
      }
      // Everything is read and checked before the registry is touched.
      const Artifact a = Artifact::load(o->model, /*linear_weights=*/false);
      std::optional<DataDescription> d;
      if (!o->sig.no_signature) {
        if (!o->sig.data.empty())
          d = describe_file(o->sig.data, o->sig.columns, o->sig.rows, o->sig.season, json::object());
        else
          d = describe_artifact_data(a, o->sig.season);
        if (!d)
          std::fprintf(stderr,
                       "ntneural: note: the training data '%s' is not readable here: registered without a signature "
                       "(pass --data to give one)\n",
                       a.training.value("data", json::object()).value("source", json::object()).value("path", "").c_str());
      }
      if (d) spec.signature = d->signature, spec.data = d->data;
      Registry reg = Registry::open(*db);
      const ModelRecord r = reg.add_file(o->model, spec);
      print_result({{"name", r.name}, {"version", r.version}, {"uuid", r.uuid}, {"sha256", r.sha256},
                    {"signature", !r.signature.empty()}, {"checkpoint", !r.checkpoint_sha256.empty()}},
                   *as_json);
      return 0;
    });
  }
  {  // list
    CLI::App* sub = app.add_subcommand("list", "List models (newest first), filtered");
    common(sub);
    auto f = std::make_shared<FilterOpts>();
    add_filter_options(*sub, *f);
    add_uint(*sub, "--limit", f->limit, {0, std::uint64_t(1) << 40}, "At most N models (0: all)");
    runs->emplace_back(sub, [db, as_json, f] {
      const RecordFilter filter = record_filter(*f);
      print_records(Registry::open(*db, false).list(filter), nullptr, *as_json);
      return 0;
    });
  }
  {  // show
    CLI::App* sub = app.add_subcommand("show", "One model's whole record (JSON)");
    common(sub, false);
    auto ref = std::make_shared<std::string>();
    sub->add_option("ref", *ref, "NAME, NAME@VERSION, NAME@latest, NAME@best[:METRIC], NAME@STAGE or a uuid")->required();
    runs->emplace_back(sub, [db, ref] {
      Registry reg = Registry::open(*db, false);
      const ModelRecord r = reg.get(*ref);
      json j = r.to_json();
      j["artifact"] = reg.artifact_path(r);
      if (!r.checkpoint_sha256.empty()) j["checkpoint"] = reg.checkpoint_path(r);
      std::printf("%s\n", j.dump(2).c_str());
      return 0;
    });
  }
  {  // search
    CLI::App* sub = app.add_subcommand("search", "The models trained on the series most similar to --like");
    common(sub);
    struct O {
      SignatureOpts sig;
      FilterOpts f;
      std::size_t k = 5, repeat = 1;
      std::string how = "cosine";
    };
    auto o = std::make_shared<O>();
    add_signature_options(*sub, o->sig, "--like", "Wide CSV of the series to match (its signature: the mean over --columns)");
    sub->get_option("--like")->required();
    add_uint(*sub, "--k", o->k, {1, 1000000}, "How many models");
    sub->add_option("--similarity", o->how, "cosine (default), euclidean or dot");
    add_uint(*sub, "--repeat", o->repeat, {1, 100000},
             "Run the search N times; --json then reports the first (cold) and the median warm time");
    add_filter_options(*sub, o->f);
    runs->emplace_back(sub, [db, as_json, o] {
      const Similarity how = parse_similarity(o->how);
      const RecordFilter filter = record_filter(o->f);
      const DataDescription d = describe_file(o->sig.data, o->sig.columns, o->sig.rows, o->sig.season, json::object());
      using clock = std::chrono::steady_clock;
      const auto t0 = clock::now();
      Registry reg = Registry::open(*db, false);
      const auto t1 = clock::now();
      std::vector<SimilarModel> found;
      std::vector<double> ms;  // each search's time: the first reads the signatures, the rest scan a warm copy
      for (std::size_t r = 0; r < o->repeat; ++r) {
        const auto a = clock::now();
        found = reg.search_like(d.signature, o->k, how, filter);
        ms.push_back(std::chrono::duration<double, std::milli>(clock::now() - a).count());
      }
      std::vector<ModelRecord> rs;
      std::vector<double> scores;
      for (const auto& m : found) rs.push_back(m.record), scores.push_back(m.score);
      if (!*as_json) {
        print_records(rs, &scores, false);
        return 0;
      }
      json out = {{"results", json::array()}, {"open_ms", std::chrono::duration<double, std::milli>(t1 - t0).count()},
                  {"first_search_ms", ms[0]}, {"query_signature", d.signature}};
      for (std::size_t i = 0; i < rs.size(); ++i) {
        json j = rs[i].to_json();
        j["score"] = scores[i];
        out["results"].push_back(j);
      }
      if (ms.size() > 1) {
        std::vector<double> warm(ms.begin() + 1, ms.end());
        std::sort(warm.begin(), warm.end());
        const std::size_t h = warm.size() / 2;
        out["warm_search_median_ms"] = warm.size() % 2 ? warm[h] : (warm[h - 1] + warm[h]) / 2;
      }
      std::printf("%s\n", out.dump().c_str());
      return 0;
    });
  }
  {  // tag
    CLI::App* sub = app.add_subcommand("tag", "Add or remove a model's tags");
    common(sub, false);
    struct O {
      std::string ref;
      std::vector<std::string> add, remove;
    };
    auto o = std::make_shared<O>();
    sub->add_option("ref", o->ref, "Model reference")->required();
    sub->add_option("--add", o->add, "Tags to add (comma-separated)")->delimiter(',');
    sub->add_option("--remove", o->remove, "Tags to remove (comma-separated)")->delimiter(',');
    runs->emplace_back(sub, [db, o] {
      NTN_CHECK(!o->add.empty() || !o->remove.empty(), "registry tag: give --add and / or --remove");
      Registry::open(*db, false).tag(o->ref, o->add, o->remove);
      return 0;
    });
  }
  {  // promote
    CLI::App* sub = app.add_subcommand("promote", "Put a model in a stage (one per name in staging / production)");
    common(sub, false);
    auto ref = std::make_shared<std::string>();
    auto stage = std::make_shared<std::string>();
    sub->add_option("ref", *ref, "Model reference")->required();
    sub->add_option("--stage", *stage, "staging, production, archived or \"\" (none)")->required();
    runs->emplace_back(sub, [db, ref, stage] {
      Registry::open(*db, false).promote(*ref, *stage);
      return 0;
    });
  }
  {  // rm
    CLI::App* sub = app.add_subcommand("rm", "Remove a model's record (its artifact goes at the next gc)");
    common(sub, false);
    auto ref = std::make_shared<std::string>();
    sub->add_option("ref", *ref, "Model reference")->required();
    runs->emplace_back(sub, [db, ref] {
      Registry::open(*db, false).remove(*ref);
      return 0;
    });
  }
  {  // export
    CLI::App* sub = app.add_subcommand("export", "Write a new registry file with the selected models and their artifacts");
    common(sub);
    auto out = std::make_shared<std::string>();
    auto f = std::make_shared<FilterOpts>();
    sub->add_option("out", *out, "The new registry file (must not exist)")->required();
    add_filter_options(*sub, *f);
    runs->emplace_back(sub, [db, as_json, out, f] {
      const RecordFilter filter = record_filter(*f);
      const RegistryTransfer t = Registry::open(*db, false).export_to(*out, filter);
      print_result({{"exported", t.copied}, {"to", *out}}, *as_json);
      return 0;
    });
  }
  {  // import
    CLI::App* sub = app.add_subcommand("import", "Add every model of another registry file (uuids already here are skipped)");
    common(sub);
    auto from = std::make_shared<std::string>();
    sub->add_option("from", *from, "The registry file to import")->required();
    runs->emplace_back(sub, [db, as_json, from] {
      const RegistryTransfer t = Registry::open(*db).import_from(*from);
      print_result({{"imported", t.copied}, {"skipped", t.skipped}, {"renumbered", t.renumbered}, {"notes", t.lines}},
                   *as_json);
      return 0;
    });
  }
  {  // check
    CLI::App* sub = app.add_subcommand("check", "Verify every record's artifact (present, sha256, loadable); exit 1 on a problem");
    common(sub);
    runs->emplace_back(sub, [db, as_json] {
      const RegistryCheck c = Registry::open(*db, false).check();
      print_result({{"records", c.records}, {"ok", c.ok}, {"problems", c.problems}}, *as_json);
      return c.problems.empty() ? 0 : 1;
    });
  }
  {  // gc
    CLI::App* sub = app.add_subcommand("gc", "Delete artifacts no record references and stale temporaries");
    common(sub);
    runs->emplace_back(sub, [db, as_json] {
      const RegistryGc g = Registry::open(*db, false).gc();
      print_result({{"objects_removed", g.objects_removed}, {"temporaries_removed", g.temporaries_removed},
                    {"bytes_freed", g.bytes_freed}},
                   *as_json);
      return 0;
    });
  }
  return [runs] {
    for (auto& [sub, run] : *runs)
      if (sub->parsed()) return run();
    return 2;
  };
}

}  // namespace ntn::cli
