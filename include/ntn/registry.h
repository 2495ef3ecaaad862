// The model registry: one SQLite file (no server) of model records, and the artifacts stored
// content-addressed beside it in "<file>.objects/<2 hex>/<sha256>.ntn".
//
// A record: uuid (the artifact's), name and version (1, 2, ... per name), model type, created
// (the artifact's) and registered times (ISO 8601 UTC), the parent's uuid (a fine-tune or refit),
// tags, a stage ("" or staging / production / archived), metrics (JSON numbers), the training and
// model config (from the artifact), the training data (fingerprint, summary statistics, source)
// and its signature (features.h series_signature: what the similarity search compares), and the
// artifact's sha256 and size, and optionally a training checkpoint of the model (weights, optimizer
// state and progress: what `train --init-from` continues a fine-tune or refit from), stored the
// same way as "<sha256>.ckpt".
//
// Concurrency and crash safety: WAL journal, a busy timeout and retries, so many processes read
// and write at once; one Registry may also be shared by threads (its transactions take turns). An artifact is written (temp file, fsync, rename, directory fsync) before
// the transaction that references it commits, so a writer killed at any point leaves every
// committed record loadable; what it leaves behind is an unreferenced object or a temporary,
// which gc() removes. A file that is not a registry (or not SQLite) is an error naming it.
//
// Whole registries move with export_to (a new file with the selected records) and import_from.
//
// Model references (get / load): NAME (its latest version), NAME@VERSION, NAME@latest,
// NAME@best (the lowest value of metric "val_loss", or of NAME@best:METRIC), NAME@STAGE
// (staging / production / archived), or a uuid.
//
// Intended usage:
//   ntn::Registry reg = ntn::Registry::open("models.db");
//   ntn::RegisterSpec spec;  spec.name = "dax-nhits";  spec.tags = {"daily", "index"};
//   spec.metrics = {{"val_mae", 0.41}};  spec.signature = ntn::series_signature(x, n, 5);
//   ntn::ModelRecord r = reg.add_file("model.ntn", spec);          // r.version == 1
//   ntn::RecordFilter f;  f.model_types = {"nhits"};  f.metrics.push_back({"val_mae", {}, 0.5});
//   for (const auto& rec : reg.list(f)) ...
//   auto like = reg.search_like(sig, 5, ntn::Similarity::cosine);  // most similar first
//   ntn::Artifact a = reg.load("dax-nhits@best");
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ntn/pipeline.h"

namespace ntn {

struct ModelRecord {
  std::string uuid;               // the artifact's
  std::string name;               // e.g. "dax-nhits"
  std::int64_t version = 0;       // 1, 2, ... per name
  std::string model_type;         // e.g. "nhits"
  std::string created;            // the artifact's creation time, ISO 8601 UTC
  std::string registered;         // when it entered this registry
  std::string parent;             // uuid of the model it was refit / fine-tuned from, or ""
  std::string stage;              // "", "staging", "production" or "archived"
  std::vector<std::string> tags;  // sorted
  nlohmann::json metrics = nlohmann::json::object();       // name -> number
  nlohmann::json train_config = nlohmann::json::object();  // the artifact's training config
  nlohmann::json model_config = nlohmann::json::object();  // the artifact's model config
  nlohmann::json data = nlohmann::json::object();          // fingerprint, summary, source
  std::vector<double> signature;  // series_signature of the training data (empty if unknown)
  std::string sha256;             // of the artifact's bytes
  std::uint64_t size = 0;         // artifact bytes
  std::string checkpoint_sha256;  // of its training checkpoint, or "" when none was registered
  std::uint64_t checkpoint_size = 0;
  nlohmann::json to_json() const;
};

// What the caller adds to an artifact when registering it.
struct RegisterSpec {
  std::string name;                    // [A-Za-z0-9._-], 1..128 characters, not a uuid
  std::vector<std::string> tags;       // [A-Za-z0-9._:/-], 1..128 characters each
  nlohmann::json metrics = nlohmann::json::object();  // name -> finite number
  std::string parent;                  // a uuid already in the registry, or ""
  std::string stage;                   // "" or a stage (promote's rules apply)
  nlohmann::json data = nlohmann::json::object();     // training data: fingerprint, summary, source
  std::vector<double> signature;       // finite, series_signature_names().size() entries, or empty
  std::string checkpoint;              // a training checkpoint file of the same model to store with it, or ""
};

struct MetricRange {
  std::string metric;          // e.g. "val_mae"
  std::optional<double> min;   // inclusive
  std::optional<double> max;   // inclusive
};

// A JSON field of a record's config equal to a value: path "model.input_size" or
// "train.lr" (model_config / train_config, dot-separated keys), value a JSON value.
struct ConfigMatch {
  std::string path;
  nlohmann::json value;
};

// Every condition given must hold (empty / unset: no condition).
struct RecordFilter {
  std::string name;                       // exact
  std::optional<std::int64_t> version;
  std::vector<std::string> model_types;   // any of
  std::vector<std::string> tags_any;      // at least one of
  std::vector<std::string> tags_all;      // every one of
  std::vector<MetricRange> metrics;       // a record without the metric does not match
  std::string created_after, created_before;  // ISO 8601 (compared as UTC text), exclusive
  std::string parent;                     // uuid
  std::string stage;
  std::vector<ConfigMatch> config;
  std::size_t limit = 0;                  // 0: all; records come newest first
};

enum class Similarity { cosine, euclidean, dot };
Similarity parse_similarity(const std::string& name);  // "cosine" | "euclidean" | "dot"

struct SimilarModel {
  ModelRecord record;
  double score;  // cosine / dot: higher is closer; euclidean: the distance, lower is closer
};

struct RegistryCheck {
  std::size_t records = 0, ok = 0;
  std::vector<std::string> problems;  // one line each, naming the record and what is wrong
};

struct RegistryTransfer {
  std::size_t copied = 0, skipped = 0, renumbered = 0;
  std::vector<std::string> lines;  // what was skipped or renumbered, one line each
};

struct RegistryGc {
  std::size_t objects_removed = 0, temporaries_removed = 0;
  std::uint64_t bytes_freed = 0;
};

class Registry {
 public:
  // Throws naming the rules when name is not a valid model name.
  static void check_name(const std::string& name);

  // Opens the registry at path; create: make it (and its objects folder) when the file is missing.
  static Registry open(const std::string& path, bool create = true);
  Registry(Registry&&) noexcept;
  Registry& operator=(Registry&&) noexcept;
  ~Registry();

  const std::string& path() const;

  // Registers the artifact file (read, checked by loading it, stored content-addressed) under
  // spec.name as its next version. Its uuid must not be in the registry yet.
  ModelRecord add_file(const std::string& artifact_path, const RegisterSpec& spec);

  std::vector<ModelRecord> list(const RecordFilter& f = {}) const;
  ModelRecord get(const std::string& ref) const;  // throws naming the reference when nothing matches
  std::string artifact_path(const ModelRecord& r) const;
  std::string checkpoint_path(const ModelRecord& r) const;  // "" when r has no checkpoint
  Artifact load(const std::string& ref, bool linear_weights = true) const;

  void tag(const std::string& ref, const std::vector<std::string>& add, const std::vector<std::string>& remove);
  // Puts the record in stage; "production" and "staging" hold one version per name: the one
  // there before moves to "archived". stage "" clears it.
  void promote(const std::string& ref, const std::string& stage);
  void set_metrics(const std::string& ref, const nlohmann::json& metrics);  // merged into the record's
  void remove(const std::string& ref);  // the record; its object stays until gc()

  // The k records (after the filter) whose signatures are closest to sig; records without one are
  // skipped. An exact scan over an in-memory copy of the signatures, refreshed when the file changed.
  std::vector<SimilarModel> search_like(const std::vector<double>& sig, std::size_t k, Similarity how,
                                        const RecordFilter& f = {}) const;

  // A new registry at out_path (which must not exist) with the records f selects and their
  // artifacts (each checked against its sha256): a backup, or models to hand to another machine.
  RegistryTransfer export_to(const std::string& out_path, const RecordFilter& f = {}) const;
  // Every record of the registry at from_path, oldest first, with its artifact (all checked
  // before anything is written; one transaction): a uuid already here is skipped; a version
  // already taken becomes the name's next one. Stages, tags, metrics, parents and times are kept.
  RegistryTransfer import_from(const std::string& from_path);

  RegistryCheck check() const;  // every record's artifact (and checkpoint): present, its sha256, loadable
  RegistryGc gc();              // objects no record references, stale temporaries

 private:
  struct Impl;
  explicit Registry(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The training data's part of a record: RegisterSpec::signature = the mean of the series'
// signatures (series_signature with `season`; a series shorter than 2 season + 1 without it),
// RegisterSpec::data = {"fingerprint": sha256 of the
// names and values, "summary": per series n, mean, std, min, max, first, last, "source": source}.
// cols (C, n_c): each series' training values, names (C).
struct DataDescription {
  std::vector<double> signature;
  nlohmann::json data;
};
DataDescription describe_training_data(const std::vector<std::string>& names, const std::vector<std::vector<double>>& cols,
                                       std::size_t season, const nlohmann::json& source = nlohmann::json::object());

// A model argument of the CLI and the Python package: an artifact file (returned as is), or
// registry:DB:REF - a model of the registry file DB (REF as above; DB may not contain ':'), whose
// artifact's path is returned. An unknown reference or a missing artifact is an error naming it.
std::string resolve_model_file(const std::string& model);

// The training checkpoint a fine-tune starts from: a checkpoint file (returned as is), or
// registry:DB:REF - the checkpoint registered with that model (an error when it has none). uuid,
// when given, receives the registered model's uuid ("" for a file): the fine-tune's parent.
std::string resolve_checkpoint_file(const std::string& model, std::string* uuid = nullptr);

// sha256 of bytes as 64 lowercase hex digits.
std::string sha256_hex(const void* data, std::size_t n);

}  // namespace ntn
