#include "ntn/registry.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>
#include <type_traits>

#include "ntn/error.h"
#include "ntn/features.h"
#include "ntn/safetensors.h"

namespace ntn {

std::string sha256_hex(const void* data, std::size_t n) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  NTN_CHECK(EVP_Digest(data, n, md, &len, EVP_sha256(), nullptr) == 1 && len == 32, "sha256: OpenSSL failed");
  static const char* hex = "0123456789abcdef";
  std::string out(64, '0');
  for (unsigned i = 0; i < 32; ++i) out[2 * i] = hex[md[i] >> 4], out[2 * i + 1] = hex[md[i] & 15];
  return out;
}

Similarity parse_similarity(const std::string& name) {
  if (name == "cosine") return Similarity::cosine;
  if (name == "euclidean") return Similarity::euclidean;
  if (name == "dot") return Similarity::dot;
  throw Error(cat("unknown similarity '", name, "': expected cosine, euclidean or dot"));
}

nlohmann::json ModelRecord::to_json() const {
  return {{"uuid", uuid},       {"name", name},     {"version", version},   {"model_type", model_type},
          {"created", created}, {"registered", registered}, {"parent", parent}, {"stage", stage},
          {"tags", tags},       {"metrics", metrics}, {"train_config", train_config},
          {"model_config", model_config}, {"data", data}, {"signature", signature},
          {"sha256", sha256},   {"size", size}, {"checkpoint_sha256", checkpoint_sha256},
          {"checkpoint_size", checkpoint_size}};
}

namespace {

// 2: models.checkpoint_sha256 / checkpoint_size (a schema-1 file is upgraded when opened).
constexpr int kSchema = 2;
constexpr int kBusyMs = 60000;  // a writer waits this long for another's lock before giving up

bool valid_chars(const std::string& s, const char* extra) {
  if (s.empty() || s.size() > 128) return false;
  for (unsigned char c : s)
    if (!std::isalnum(c) && !std::strchr(extra, c)) return false;
  return true;
}

bool looks_like_uuid(const std::string& s) {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < 36; ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !std::isxdigit(static_cast<unsigned char>(s[i]))) return false;
  }
  return true;
}

void check_name(const std::string& name) {
  NTN_CHECK(valid_chars(name, "._-"), "registry: model name '", name,
            "' must be 1..128 characters of letters, digits, '.', '_' or '-'");
  NTN_CHECK(!looks_like_uuid(name), "registry: model name '", name, "' looks like a uuid; choose another");
}

void check_tag(const std::string& tag) {
  NTN_CHECK(valid_chars(tag, "._:/-"), "registry: tag '", tag,
            "' must be 1..128 characters of letters, digits, '.', '_', ':', '/' or '-'");
}

void check_metric_name(const std::string& m) {
  NTN_CHECK(valid_chars(m, "_-"), "registry: metric name '", m, "' must be 1..128 letters, digits, '_' or '-'");
}

void check_stage(const std::string& stage, bool allow_empty) {
  NTN_CHECK((allow_empty && stage.empty()) || stage == "staging" || stage == "production" || stage == "archived",
            "registry: stage '", stage, "' must be staging, production or archived", allow_empty ? " (or empty)" : "");
}

void check_metrics(const nlohmann::json& m) {
  NTN_CHECK(m.is_object(), "registry: metrics must be a JSON object of name -> number");
  for (const auto& [k, v] : m.items()) {
    check_metric_name(k);
    NTN_CHECK(v.is_number() && std::isfinite(v.get<double>()), "registry: metric '", k, "' = ", v.dump(),
              " is not a finite number");
  }
}

void check_signature(const std::vector<double>& sig, const char* what) {
  if (sig.empty()) return;
  NTN_CHECK(sig.size() == series_signature_names().size(), what, ": a signature has ",
            series_signature_names().size(), " entries (got ", sig.size(), ")");
  for (std::size_t i = 0; i < sig.size(); ++i)
    NTN_CHECK(std::isfinite(sig[i]), what, ": signature entry ", i, " (", series_signature_names()[i], ") = ", sig[i],
              " is not finite");
}

std::string read_whole(const std::string& path) {
  struct stat st {};
  NTN_CHECK(::stat(path.c_str(), &st) == 0, "cannot read '", path, "': ", std::strerror(errno));
  NTN_CHECK(S_ISREG(st.st_mode), "'", path, "' is not a regular file");
  std::ifstream f(path, std::ios::binary);
  NTN_CHECK(f.good(), "cannot read '", path, "'");
  std::ostringstream s;
  s << f.rdbuf();
  NTN_CHECK(!f.bad(), "cannot read '", path, "'");
  return std::move(s).str();
}

void fsync_dir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

// One prepared statement (RAII). Text and blobs are copied by SQLite (SQLITE_TRANSIENT).
class Stmt {
 public:
  Stmt(sqlite3* db, const std::string& path, const char* sql) : db_(db), path_(path) {
    const int rc = sqlite3_prepare_v2(db, sql, -1, &s_, nullptr);
    if (rc != SQLITE_OK) fail(rc);
  }
  ~Stmt() { sqlite3_finalize(s_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& bind(int i, const std::string& v) { return check(sqlite3_bind_text(s_, i, v.data(), int(v.size()), SQLITE_TRANSIENT)); }
  Stmt& bind(int i, std::int64_t v) { return check(sqlite3_bind_int64(s_, i, v)); }
  Stmt& bind(int i, double v) { return check(sqlite3_bind_double(s_, i, v)); }
  Stmt& bind_blob(int i, const void* p, std::size_t n) {
    return check(n ? sqlite3_bind_blob(s_, i, p, int(n), SQLITE_TRANSIENT) : sqlite3_bind_null(s_, i));
  }
  // true: a row is ready; false: done.
  bool step() {
    const int rc = sqlite3_step(s_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    fail(rc);
  }
  void run() {
    while (step()) {
    }
  }
  std::string text(int c) const {
    const auto* p = sqlite3_column_text(s_, c);
    return p ? std::string(reinterpret_cast<const char*>(p), std::size_t(sqlite3_column_bytes(s_, c))) : std::string();
  }
  std::int64_t i64(int c) const { return sqlite3_column_int64(s_, c); }
  bool null(int c) const { return sqlite3_column_type(s_, c) == SQLITE_NULL; }
  // Copies column c's blob of exactly n doubles to out; false for another length.
  bool copy_doubles(int c, std::size_t n, double* out) const {
    const auto* p = static_cast<const char*>(sqlite3_column_blob(s_, c));
    if (std::size_t(sqlite3_column_bytes(s_, c)) != n * sizeof(double)) return false;
    std::memcpy(out, p, n * sizeof(double));
    return true;
  }
  std::vector<double> doubles(int c) const {
    const auto* p = static_cast<const char*>(sqlite3_column_blob(s_, c));
    const std::size_t n = std::size_t(sqlite3_column_bytes(s_, c)) / sizeof(double);
    std::vector<double> v(n);
    if (n) std::memcpy(v.data(), p, n * sizeof(double));
    return v;
  }

  [[noreturn]] void fail(int rc) const {
    const int base = rc & 0xff;
    if (base == SQLITE_BUSY || base == SQLITE_LOCKED)
      throw Error(cat("registry '", path_, "' is busy: another process held its lock for over ", kBusyMs / 1000,
                      " s (", sqlite3_errmsg(db_), ")"));
    if (base == SQLITE_CORRUPT || base == SQLITE_NOTADB)
      throw Error(cat("registry '", path_, "' is corrupt or not a registry: ", sqlite3_errmsg(db_)));
    throw Error(cat("registry '", path_, "': ", sqlite3_errmsg(db_), " (SQLite code ", rc, ")"));
  }

 private:
  Stmt& check(int rc) {
    if (rc != SQLITE_OK) fail(rc);
    return *this;
  }
  sqlite3* db_;
  const std::string& path_;
  sqlite3_stmt* s_ = nullptr;
};

const char* kSchemaSql = R"(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS models(
  id INTEGER PRIMARY KEY,
  uuid TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  version INTEGER NOT NULL,
  model_type TEXT NOT NULL,
  created TEXT NOT NULL,
  registered TEXT NOT NULL,
  parent TEXT NOT NULL DEFAULT '',
  stage TEXT NOT NULL DEFAULT '',
  metrics TEXT NOT NULL DEFAULT '{}',
  train_config TEXT NOT NULL DEFAULT '{}',
  model_config TEXT NOT NULL DEFAULT '{}',
  data TEXT NOT NULL DEFAULT '{}',
  sha256 TEXT NOT NULL,
  size INTEGER NOT NULL,
  checkpoint_sha256 TEXT NOT NULL DEFAULT '',
  checkpoint_size INTEGER NOT NULL DEFAULT 0,
  UNIQUE(name, version));
CREATE INDEX IF NOT EXISTS models_type ON models(model_type);
CREATE INDEX IF NOT EXISTS models_created ON models(created);
CREATE INDEX IF NOT EXISTS models_sha ON models(sha256);
CREATE TABLE IF NOT EXISTS tags(model INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
                                tag TEXT NOT NULL, PRIMARY KEY(model, tag));
CREATE INDEX IF NOT EXISTS tags_tag ON tags(tag);
-- Signatures in a narrow table of their own: search_like reads 100,000 of them from ~12 MB
-- instead of walking every record's JSON.
CREATE TABLE IF NOT EXISTS signatures(model INTEGER PRIMARY KEY REFERENCES models(id) ON DELETE CASCADE,
                                      vec BLOB NOT NULL);
)";

const char* kColumns =
    "m.id, m.uuid, m.name, m.version, m.model_type, m.created, m.registered, m.parent, m.stage, m.metrics, "
    "m.train_config, m.model_config, m.data, (SELECT vec FROM signatures WHERE model = m.id), m.sha256, m.size, "
    "(SELECT group_concat(tag, char(31)) FROM (SELECT tag FROM tags WHERE model = m.id ORDER BY tag)), "
    "m.checkpoint_sha256, m.checkpoint_size";

nlohmann::json parse_stored(const std::string& text, const std::string& path, const char* field) {
  try {
    return nlohmann::json::parse(text);
  } catch (const std::exception&) {
    throw Error(cat("registry '", path, "' is corrupt: field ", field, " is not JSON"));
  }
}

ModelRecord read_record(const Stmt& s, const std::string& path) {
  ModelRecord r;
  r.uuid = s.text(1);
  r.name = s.text(2);
  r.version = s.i64(3);
  r.model_type = s.text(4);
  r.created = s.text(5);
  r.registered = s.text(6);
  r.parent = s.text(7);
  r.stage = s.text(8);
  r.metrics = parse_stored(s.text(9), path, "metrics");
  r.train_config = parse_stored(s.text(10), path, "train_config");
  r.model_config = parse_stored(s.text(11), path, "model_config");
  r.data = parse_stored(s.text(12), path, "data");
  if (!s.null(13)) r.signature = s.doubles(13);
  r.sha256 = s.text(14);
  r.size = std::uint64_t(s.i64(15));
  const std::string tags = s.text(16);
  for (std::size_t at = 0; at < tags.size();) {
    const std::size_t end = std::min(tags.find('\x1f', at), tags.size());
    r.tags.push_back(tags.substr(at, end - at));
    at = end + 1;
  }
  r.checkpoint_sha256 = s.text(17);
  r.checkpoint_size = std::uint64_t(s.i64(18));
  return r;
}

// Checks that bytes (of file) are a training checkpoint of the model whose config is model_config
// (what Trainer::resume would refuse otherwise).
void check_checkpoint(const std::string& bytes, const std::string& file, const nlohmann::json& model_config,
                      const std::string& who) {
  const SafeTensorsFile f = SafeTensorsFile::parse(bytes, file);
  NTN_CHECK(f.metadata().count("format") && f.meta("format") == "ntneural-checkpoint", "registry: '", file,
            "' is not an ntneural training checkpoint");
  nlohmann::json mc = nlohmann::json::parse(f.meta("model_config"), nullptr, /*allow_exceptions=*/false);
  NTN_CHECK(!mc.is_discarded(), "registry: '", file, "': checkpoint metadata is not valid JSON (corrupted file)");
  NTN_CHECK(mc == model_config, "registry: the checkpoint '", file, "' is of another model than ", who, " (",
            mc.dump().substr(0, 200), ")");
  NTN_CHECK(f.has("params"), "registry: the checkpoint '", file, "' holds no parameters");
}

// The JSON value at a dot path ("input_size", "a.b") of j, or nullptr when absent.
const nlohmann::json* at_path(const nlohmann::json& j, const std::string& path) {
  const nlohmann::json* cur = &j;
  std::size_t at = 0;
  while (at <= path.size()) {
    const std::size_t end = std::min(path.find('.', at), path.size());
    const std::string key = path.substr(at, end - at);
    if (!cur->is_object() || !cur->contains(key)) return nullptr;
    cur = &(*cur)[key];
    at = end + 1;
  }
  return cur;
}

bool config_matches(const ModelRecord& r, const std::vector<ConfigMatch>& cs) {
  for (const ConfigMatch& c : cs) {
    const bool model = c.path.rfind("model.", 0) == 0;
    const nlohmann::json* v = at_path(model ? r.model_config : r.train_config, c.path.substr(6));  // after "model." / "train."
    if (!v || *v != c.value) return false;
  }
  return true;
}

}  // namespace

struct Registry::Impl {
  std::string path, objects;
  sqlite3* db = nullptr;
  // search_like's copy of every signature, valid while data_version and our own write count
  // are those it was read at; seen_*: the state of the last search that read the file.
  mutable std::mutex cache_mu;
  mutable std::int64_t seen_version = -1;
  mutable std::uint64_t seen_writes = ~0ull;
  mutable std::int64_t cache_version = -1;
  mutable std::uint64_t cache_writes = ~0ull;
  mutable std::vector<std::int64_t> cache_ids;
  mutable std::vector<double> cache_sigs;  // (records, F)
  std::uint64_t writes = 0;
  // One transaction at a time on this connection: threads sharing the handle take turns.
  mutable std::recursive_mutex tx_mu;

  ~Impl() {
    if (db) sqlite3_close_v2(db);
  }

  void exec(const char* sql) const {
    char* err = nullptr;
    const int rc = sqlite3_exec(db, sql, nullptr, nullptr, &err);
    if (rc == SQLITE_OK) return;
    const std::string msg = err ? err : sqlite3_errmsg(db);
    sqlite3_free(err);
    const int base = rc & 0xff;
    if (base == SQLITE_BUSY || base == SQLITE_LOCKED)
      throw Error(cat("registry '", path, "' is busy: another process held its lock for over ", kBusyMs / 1000, " s"));
    if (base == SQLITE_CORRUPT || base == SQLITE_NOTADB)
      throw Error(cat("registry '", path, "' is corrupt or not a registry: ", msg));
    throw Error(cat("registry '", path, "': ", msg));
  }

  // Runs f inside one write transaction (BEGIN IMMEDIATE: the lock is taken up front, so two
  // writers never deadlock upgrading); rolls back on any error.
  template <class F>
  auto write(F&& f) {
    std::lock_guard<std::recursive_mutex> lock(tx_mu);
    exec("BEGIN IMMEDIATE");
    try {
      if constexpr (std::is_void_v<decltype(f())>) {
        f();
        exec("COMMIT");
        ++writes;
      } else {
        auto r = f();
        exec("COMMIT");
        ++writes;
        return r;
      }
    } catch (...) {
      sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
      throw;
    }
  }
  template <class F>
  auto read(F&& f) const {
    std::lock_guard<std::recursive_mutex> lock(tx_mu);
    exec("BEGIN");
    try {
      auto r = f();
      exec("COMMIT");
      return r;
    } catch (...) {
      sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
      throw;
    }
  }

  // An artifact is "<sha>.ntn", a checkpoint "<sha>.ckpt".
  std::string object_path(const std::string& sha, const char* ext = ".ntn") const {
    return cat(objects, "/", sha.substr(0, 2), "/", sha, ext);
  }

  // Inside a write transaction (under its lock: gc, which takes it too, never sees the object
  // unreferenced, and it is durable before the record that names it commits).
  void store_object(const std::string& obj, const std::string& bytes) const {
    struct stat ost {};
    if (::stat(obj.c_str(), &ost) == 0 && std::uint64_t(ost.st_size) == bytes.size()) return;
    const std::string dir = obj.substr(0, obj.rfind('/'));
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    NTN_CHECK(!ec, "registry '", path, "': cannot create '", dir, "': ", ec.message());
    write_file_atomic(obj, bytes);
    fsync_dir(dir);
  }

  std::optional<std::int64_t> find_uuid(const std::string& uuid) const {
    Stmt s(db, path, "SELECT id FROM models WHERE uuid = ?");
    s.bind(1, uuid);
    return s.step() ? std::optional<std::int64_t>(s.i64(0)) : std::nullopt;
  }

  // Inside a write transaction: stores the artifact bytes (sha256 r.sha256) and the checkpoint's
  // (r.checkpoint_sha256, when r has one) and inserts r as version `version` of its name when
  // that is free (0: the next), else as the next. Putting r in staging / production archives the
  // version there before. Returns (version, renumbered).
  std::pair<std::int64_t, bool> insert(const ModelRecord& r, const std::string& bytes, std::int64_t version,
                                       const std::string& checkpoint = {}) {
    store_object(object_path(r.sha256), bytes);
    if (!r.checkpoint_sha256.empty()) store_object(object_path(r.checkpoint_sha256, ".ckpt"), checkpoint);
    bool renumbered = false;
    if (version > 0) {
      Stmt t(db, path, "SELECT 1 FROM models WHERE name = ? AND version = ?");
      t.bind(1, r.name).bind(2, version);
      renumbered = t.step();
    }
    if (version <= 0 || renumbered) {
      Stmt v(db, path, "SELECT coalesce(max(version), 0) + 1 FROM models WHERE name = ?");
      v.bind(1, r.name);
      v.step();
      version = v.i64(0);
    }
    if (r.stage == "production" || r.stage == "staging") {
      Stmt d(db, path, "UPDATE models SET stage = 'archived' WHERE name = ? AND stage = ?");
      d.bind(1, r.name).bind(2, r.stage);
      d.run();
    }
    Stmt ins(db, path,
             "INSERT INTO models(uuid, name, version, model_type, created, registered, parent, stage, metrics, "
             "train_config, model_config, data, sha256, size, checkpoint_sha256, checkpoint_size) "
             "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
    ins.bind(1, r.uuid).bind(2, r.name).bind(3, version).bind(4, r.model_type).bind(5, r.created);
    ins.bind(6, r.registered).bind(7, r.parent).bind(8, r.stage).bind(9, r.metrics.dump());
    ins.bind(10, r.train_config.dump()).bind(11, r.model_config.dump()).bind(12, r.data.dump());
    ins.bind(13, r.sha256).bind(14, std::int64_t(r.size));
    ins.bind(15, r.checkpoint_sha256).bind(16, std::int64_t(r.checkpoint_size));
    ins.run();
    const std::int64_t id = sqlite3_last_insert_rowid(db);
    if (!r.signature.empty()) {
      Stmt sg(db, path, "INSERT INTO signatures(model, vec) VALUES (?, ?)");
      sg.bind(1, id).bind_blob(2, r.signature.data(), r.signature.size() * sizeof(double));
      sg.run();
    }
    for (const auto& t : r.tags) {
      Stmt tg(db, path, "INSERT INTO tags(model, tag) VALUES (?, ?)");
      tg.bind(1, id).bind(2, t);
      tg.run();
    }
    return {version, renumbered};
  }

  // The record `ref` names (see registry.h), or an error naming it.
  std::int64_t resolve(const std::string& ref) const {
    NTN_CHECK(!ref.empty(), "registry: empty model reference");
    if (looks_like_uuid(ref)) {
      Stmt s(db, path, "SELECT id FROM models WHERE uuid = ?");
      s.bind(1, ref);
      NTN_CHECK(s.step(), "registry '", path, "' has no model with uuid ", ref);
      return s.i64(0);
    }
    const std::size_t at = ref.find('@');
    const std::string name = ref.substr(0, at), sel = at == std::string::npos ? "latest" : ref.substr(at + 1);
    check_name(name);
    auto one = [&](const char* sql, auto... args) -> std::int64_t {
      Stmt s(db, path, sql);
      s.bind(1, name);
      int i = 2;
      (s.bind(i++, args), ...);
      NTN_CHECK(s.step(), "registry '", path, "' has no model '", ref, "'", known_versions(name));
      return s.i64(0);
    };
    if (sel == "latest") return one("SELECT id FROM models WHERE name = ? ORDER BY version DESC LIMIT 1");
    if (sel == "staging" || sel == "production" || sel == "archived")
      return one("SELECT id FROM models WHERE name = ? AND stage = ? ORDER BY version DESC LIMIT 1", sel);
    if (sel == "best" || sel.rfind("best:", 0) == 0) {
      const std::string metric = sel == "best" ? "val_loss" : sel.substr(5);
      check_metric_name(metric);
      return one(
          "SELECT id FROM models WHERE name = ? AND json_type(metrics, '$.\"' || ?2 || '\"') IN ('integer', 'real') "
          "ORDER BY json_extract(metrics, '$.\"' || ?2 || '\"'), version DESC LIMIT 1",
          metric);
    }
    NTN_CHECK(!sel.empty() && sel.size() <= 18 && sel.find_first_not_of("0123456789") == std::string::npos,
              "registry: model reference '", ref,
              "': after '@' expected a version number, latest, best, best:METRIC, staging, production or archived");
    return one("SELECT id FROM models WHERE name = ? AND version = ?", std::int64_t(std::stoll(sel)));
  }

  std::string known_versions(const std::string& name) const {
    Stmt s(db, path, "SELECT group_concat(version, ', ') FROM (SELECT version FROM models WHERE name = ? ORDER BY version)");
    s.bind(1, name);
    const std::string v = s.step() ? s.text(0) : std::string();
    return v.empty() ? std::string(" (no model of that name)") : cat(" (versions of '", name, "': ", v, ")");
  }

  ModelRecord record_by_id(std::int64_t id) const {
    Stmt s(db, path, (std::string("SELECT ") + kColumns + " FROM models m WHERE m.id = ?").c_str());
    s.bind(1, id);
    NTN_CHECK(s.step(), "registry '", path, "': model record ", id, " vanished");
    return read_record(s, path);
  }

  // Records (newest first) passing every SQL-expressible condition of f, then the config ones.
  std::vector<std::pair<std::int64_t, ModelRecord>> query(const RecordFilter& f) const {
    std::string sql = std::string("SELECT ") + kColumns + " FROM models m WHERE 1";
    std::vector<std::function<void(Stmt&, int&)>> binds;
    auto text = [&](const std::string& v) { binds.push_back([v](Stmt& s, int& i) { s.bind(i++, v); }); };
    if (!f.name.empty()) sql += " AND m.name = ?", text(f.name);
    if (f.version) {
      sql += " AND m.version = ?";
      const std::int64_t v = *f.version;
      binds.push_back([v](Stmt& s, int& i) { s.bind(i++, v); });
    }
    if (!f.model_types.empty()) {
      sql += " AND m.model_type IN (";
      for (std::size_t i = 0; i < f.model_types.size(); ++i) sql += i ? ",?" : "?", text(f.model_types[i]);
      sql += ")";
    }
    if (!f.tags_any.empty()) {
      sql += " AND EXISTS (SELECT 1 FROM tags t WHERE t.model = m.id AND t.tag IN (";
      for (std::size_t i = 0; i < f.tags_any.size(); ++i) sql += i ? ",?" : "?", text(f.tags_any[i]);
      sql += "))";
    }
    if (!f.tags_all.empty()) {
      const std::set<std::string> all(f.tags_all.begin(), f.tags_all.end());
      sql += " AND (SELECT count(*) FROM tags t WHERE t.model = m.id AND t.tag IN (";
      bool first = true;
      for (const auto& t : all) sql += first ? "?" : ",?", first = false, text(t);
      sql += cat(")) = ", all.size());
    }
    for (const MetricRange& r : f.metrics) {
      check_metric_name(r.metric);
      const std::string p = cat("$.\"", r.metric, "\"");
      sql += " AND json_type(m.metrics, ?) IN ('integer', 'real')";
      text(p);
      if (r.min) {
        sql += " AND json_extract(m.metrics, ?) >= ?";
        const double v = *r.min;
        text(p);
        binds.push_back([v](Stmt& s, int& i) { s.bind(i++, v); });
      }
      if (r.max) {
        sql += " AND json_extract(m.metrics, ?) <= ?";
        const double v = *r.max;
        text(p);
        binds.push_back([v](Stmt& s, int& i) { s.bind(i++, v); });
      }
    }
    if (!f.created_after.empty()) sql += " AND m.created > ?", text(f.created_after);
    if (!f.created_before.empty()) sql += " AND m.created < ?", text(f.created_before);
    if (!f.parent.empty()) sql += " AND m.parent = ?", text(f.parent);
    if (!f.stage.empty()) sql += " AND m.stage = ?", text(f.stage);
    sql += " ORDER BY m.registered DESC, m.id DESC";
    Stmt s(db, path, sql.c_str());
    int i = 1;
    for (auto& b : binds) b(s, i);
    std::vector<std::pair<std::int64_t, ModelRecord>> out;
    while (s.step()) {
      ModelRecord r = read_record(s, path);
      if (!config_matches(r, f.config)) continue;
      out.emplace_back(s.i64(0), std::move(r));
      if (f.limit && out.size() == f.limit) break;
    }
    return out;
  }
};

void Registry::check_name(const std::string& name) { ntn::check_name(name); }

Registry::Registry(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Registry::Registry(Registry&&) noexcept = default;
Registry& Registry::operator=(Registry&&) noexcept = default;
Registry::~Registry() = default;
const std::string& Registry::path() const { return impl_->path; }

Registry Registry::open(const std::string& path, bool create) {
  NTN_CHECK(!path.empty(), "registry: empty path");
  struct stat st {};
  const bool exists = ::stat(path.c_str(), &st) == 0;
  if (exists) {
    NTN_CHECK(S_ISREG(st.st_mode), "registry '", path, "' is not a regular file");
    if (st.st_size > 0) {
      char head[16] = {};
      std::ifstream f(path, std::ios::binary);
      f.read(head, 16);
      NTN_CHECK(f.gcount() == 16 && std::memcmp(head, "SQLite format 3", 16) == 0, "'", path,
                "' is not an ntneural registry (not an SQLite database)");
    } else {
      NTN_CHECK(create, "registry '", path, "' is an empty file, not a registry");
    }
  } else {
    NTN_CHECK(create, "registry '", path, "' does not exist");
  }
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->objects = path + ".objects";
  const int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_FULLMUTEX;
  if (sqlite3_open_v2(path.c_str(), &impl->db, flags, nullptr) != SQLITE_OK)
    throw Error(cat("cannot open registry '", path, "': ", impl->db ? sqlite3_errmsg(impl->db) : "out of memory"));
  sqlite3_busy_timeout(impl->db, kBusyMs);
  sqlite3_extended_result_codes(impl->db, 1);
  // WAL: readers never block the writer nor it them; FULL: a commit is on disk when it returns.
  impl->exec("PRAGMA journal_mode = WAL");
  impl->exec("PRAGMA synchronous = FULL");
  impl->exec("PRAGMA foreign_keys = ON");
  // Reads straight from a mapping of the file instead of copying each page into SQLite's cache.
  impl->exec("PRAGMA mmap_size = 1073741824");
  const bool fresh = impl->read([&] {
    Stmt s(impl->db, path, "SELECT count(*) FROM sqlite_master");
    s.step();
    return s.i64(0) == 0;
  });
  if (fresh) {
    NTN_CHECK(create, "registry '", path, "' is an empty database, not a registry");
    impl->write([&] {
      impl->exec(kSchemaSql);
      Stmt s(impl->db, path, "INSERT OR IGNORE INTO meta(key, value) VALUES ('format', 'ntneural-registry'), ('schema', ?)");
      s.bind(1, std::to_string(kSchema));
      s.run();
    });
  }
  auto schema = [&] {
    Stmt has(impl->db, path, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'");
    has.step();
    NTN_CHECK(has.i64(0) == 1, "'", path, "' is an SQLite database but not an ntneural registry");
    Stmt s(impl->db, path, "SELECT (SELECT value FROM meta WHERE key = 'format'), (SELECT value FROM meta WHERE key = 'schema')");
    s.step();
    NTN_CHECK(s.text(0) == "ntneural-registry", "'", path, "' is an SQLite database but not an ntneural registry");
    return s.text(1);
  };
  std::string v = impl->read(schema);
  if (v == "1") {  // upgraded in place (once: another process may be doing it too)
    v = impl->write([&] {
      if (schema() == "1") {
        impl->exec("ALTER TABLE models ADD COLUMN checkpoint_sha256 TEXT NOT NULL DEFAULT ''");
        impl->exec("ALTER TABLE models ADD COLUMN checkpoint_size INTEGER NOT NULL DEFAULT 0");
        impl->exec("UPDATE meta SET value = '2' WHERE key = 'schema'");
      }
      return schema();
    });
  }
  NTN_CHECK(v == std::to_string(kSchema), "registry '", path, "' has schema version '", v, "'; this ntneural reads ",
            kSchema, (v.size() < 6 && std::atoi(v.c_str()) > kSchema ? " (it was written by a newer ntneural)" : ""));
  std::error_code ec;
  std::filesystem::create_directories(impl->objects, ec);
  NTN_CHECK(!ec, "registry '", path, "': cannot create its objects folder '", impl->objects, "': ", ec.message());
  return Registry(std::move(impl));
}

ModelRecord Registry::add_file(const std::string& artifact_path, const RegisterSpec& spec) {
  Impl& R = *impl_;
  check_name(spec.name);
  for (const auto& t : spec.tags) check_tag(t);
  check_metrics(spec.metrics);
  check_stage(spec.stage, true);
  check_signature(spec.signature, "registry add");
  NTN_CHECK(spec.data.is_object(), "registry add: data must be a JSON object");
  NTN_CHECK(spec.parent.empty() || looks_like_uuid(spec.parent), "registry add: parent '", spec.parent,
            "' is not a uuid");
  std::string bytes = read_whole(artifact_path);
  const std::string sha = sha256_hex(bytes.data(), bytes.size());
  // Loading it is the check that it is a model artifact (checksum, tensors, configs).
  auto file = std::make_shared<const SafeTensorsFile>(SafeTensorsFile::parse(bytes, artifact_path));
  const Artifact a = Artifact::from_file(file, /*linear_weights=*/false);
  NTN_CHECK(looks_like_uuid(a.uuid), "registry add: '", artifact_path, "' has no uuid");
  ModelRecord r;
  r.uuid = a.uuid;
  r.name = spec.name;
  r.model_type = file->meta("model_type");
  r.created = a.created;
  r.registered = utc_now_iso8601();
  r.parent = spec.parent;
  r.stage = spec.stage;
  r.tags = spec.tags;
  std::sort(r.tags.begin(), r.tags.end());
  r.tags.erase(std::unique(r.tags.begin(), r.tags.end()), r.tags.end());
  r.metrics = spec.metrics;
  r.train_config = a.training.contains("config") ? a.training["config"] : nlohmann::json::object();
  try {
    r.model_config = nlohmann::json::parse(file->meta("model_config"));
  } catch (const nlohmann::json::exception&) {
    throw Error(cat("registry add: '", artifact_path, "' has a model_config that is not JSON"));
  }
  r.data = spec.data;
  if (r.data.empty() && a.training.contains("data")) r.data["source"] = a.training["data"];
  r.signature = spec.signature;
  r.sha256 = sha;
  r.size = bytes.size();
  std::string ckpt;
  if (!spec.checkpoint.empty()) {
    ckpt = read_whole(spec.checkpoint);
    check_checkpoint(ckpt, spec.checkpoint, r.model_config, cat("'", artifact_path, "'"));
    r.checkpoint_sha256 = sha256_hex(ckpt.data(), ckpt.size());
    r.checkpoint_size = ckpt.size();
  }
  r.version = R.write([&] {
    if (const auto id = R.find_uuid(r.uuid)) {
      const ModelRecord old = R.record_by_id(*id);
      throw Error(cat("registry '", R.path, "' already holds model ", r.uuid, " (from '", artifact_path, "') as ",
                      old.name, "@", old.version));
    }
    NTN_CHECK(r.parent.empty() || R.find_uuid(r.parent), "registry add: parent ", r.parent, " is not in registry '",
              R.path, "'");
    return R.insert(r, bytes, 0, ckpt).first;
  });
  return r;
}

std::vector<ModelRecord> Registry::list(const RecordFilter& f) const {
  for (const auto& t : f.tags_any) check_tag(t);
  for (const auto& t : f.tags_all) check_tag(t);
  if (!f.stage.empty()) check_stage(f.stage, false);
  for (const auto& c : f.config)
    NTN_CHECK(c.path.rfind("model.", 0) == 0 || c.path.rfind("train.", 0) == 0, "registry: config field '", c.path,
              "' must start with model. or train.");
  auto rows = impl_->read([&] { return impl_->query(f); });
  std::vector<ModelRecord> out;
  out.reserve(rows.size());
  for (auto& [id, r] : rows) out.push_back(std::move(r));
  return out;
}

ModelRecord Registry::get(const std::string& ref) const {
  return impl_->read([&] { return impl_->record_by_id(impl_->resolve(ref)); });
}

std::string Registry::artifact_path(const ModelRecord& r) const { return impl_->object_path(r.sha256); }
std::string Registry::checkpoint_path(const ModelRecord& r) const {
  return r.checkpoint_sha256.empty() ? std::string() : impl_->object_path(r.checkpoint_sha256, ".ckpt");
}

Artifact Registry::load(const std::string& ref, bool linear_weights) const {
  const ModelRecord r = get(ref);
  const std::string p = artifact_path(r);
  NTN_CHECK(::access(p.c_str(), R_OK) == 0, "registry '", impl_->path, "': the artifact of ", r.name, "@", r.version,
            " ('", p, "') is missing; `ntneural registry check` lists every such record");
  Artifact a = Artifact::load(p, linear_weights);
  NTN_CHECK(a.uuid == r.uuid, "registry '", impl_->path, "': the artifact '", p, "' of ", r.name, "@", r.version,
            " holds model ", a.uuid, ", not ", r.uuid);
  return a;
}

void Registry::tag(const std::string& ref, const std::vector<std::string>& add, const std::vector<std::string>& remove) {
  for (const auto& t : add) check_tag(t);
  for (const auto& t : remove) check_tag(t);
  impl_->write([&] {
    const std::int64_t id = impl_->resolve(ref);
    for (const auto& t : add) {
      Stmt s(impl_->db, impl_->path, "INSERT OR IGNORE INTO tags(model, tag) VALUES (?, ?)");
      s.bind(1, id).bind(2, t);
      s.run();
    }
    for (const auto& t : remove) {
      Stmt s(impl_->db, impl_->path, "DELETE FROM tags WHERE model = ? AND tag = ?");
      s.bind(1, id).bind(2, t);
      s.run();
    }
  });
}

void Registry::promote(const std::string& ref, const std::string& stage) {
  check_stage(stage, true);
  impl_->write([&] {
    const std::int64_t id = impl_->resolve(ref);
    if (stage == "production" || stage == "staging") {
      Stmt d(impl_->db, impl_->path,
             "UPDATE models SET stage = 'archived' WHERE stage = ?2 AND id != ?1 AND name = (SELECT name FROM models WHERE id = ?1)");
      d.bind(1, id).bind(2, stage);
      d.run();
    }
    Stmt s(impl_->db, impl_->path, "UPDATE models SET stage = ? WHERE id = ?");
    s.bind(1, stage).bind(2, id);
    s.run();
  });
}

void Registry::set_metrics(const std::string& ref, const nlohmann::json& metrics) {
  check_metrics(metrics);
  impl_->write([&] {
    const std::int64_t id = impl_->resolve(ref);
    ModelRecord r = impl_->record_by_id(id);
    r.metrics.update(metrics);
    Stmt s(impl_->db, impl_->path, "UPDATE models SET metrics = ? WHERE id = ?");
    s.bind(1, r.metrics.dump()).bind(2, id);
    s.run();
  });
}

void Registry::remove(const std::string& ref) {
  impl_->write([&] {
    const std::int64_t id = impl_->resolve(ref);
    Stmt s(impl_->db, impl_->path, "DELETE FROM models WHERE id = ?");
    s.bind(1, id);
    s.run();
  });
}

std::vector<SimilarModel> Registry::search_like(const std::vector<double>& sig, std::size_t k, Similarity how,
                                                const RecordFilter& f) const {
  Impl& R = *impl_;
  NTN_CHECK(!sig.empty(), "registry search: an empty signature");
  check_signature(sig, "registry search");
  NTN_CHECK(k >= 1 && k <= 1000000, "registry search: k must be 1..1000000 (got ", k, ")");
  const std::size_t F = sig.size();
  double qn = 0;
  for (double v : sig) qn += v * v;
  qn = std::sqrt(qn);
  std::lock_guard<std::mutex> lock(R.cache_mu);
  return R.read([&] {
    Stmt dv(R.db, R.path, "PRAGMA data_version");
    dv.step();
    const std::int64_t version = dv.i64(0);
    const bool filtered = !(f.name.empty() && !f.version && f.model_types.empty() && f.tags_any.empty() &&
                            f.tags_all.empty() && f.metrics.empty() && f.created_after.empty() &&
                            f.created_before.empty() && f.parent.empty() && f.stage.empty() && f.config.empty());
    std::vector<std::int64_t> allowed;
    if (filtered) {
      RecordFilter g = f;
      g.limit = 0;
      for (auto& [id, r] : R.query(g)) allowed.push_back(id);
      std::sort(allowed.begin(), allowed.end());
    }
    // The k best (key, id): lower key is closer, ties to the older record; a max-heap of k.
    std::vector<std::pair<double, std::int64_t>> best;
    auto consider = [&](std::int64_t id, const double* v) {
      if (filtered && !std::binary_search(allowed.begin(), allowed.end(), id)) return;
      double dot = 0, nn = 0, d2 = 0;
      for (std::size_t j = 0; j < F; ++j) {
        dot += v[j] * sig[j];
        nn += v[j] * v[j];
        d2 += (v[j] - sig[j]) * (v[j] - sig[j]);
      }
      double key;
      switch (how) {
        case Similarity::cosine: key = -(nn > 0 && qn > 0 ? dot / (std::sqrt(nn) * qn) : 0.0); break;
        case Similarity::dot: key = -dot; break;
        default: key = std::sqrt(d2); break;
      }
      const std::pair<double, std::int64_t> e{key, id};
      if (best.size() < k) {
        best.push_back(e);
        std::push_heap(best.begin(), best.end());
      } else if (e < best.front()) {
        std::pop_heap(best.begin(), best.end());
        best.back() = e;
        std::push_heap(best.begin(), best.end());
      }
    };
    const bool cached = version == R.cache_version && R.writes == R.cache_writes;
    if (cached) {
      for (std::size_t i = 0; i < R.cache_ids.size(); ++i) consider(R.cache_ids[i], R.cache_sigs.data() + i * F);
    } else {
      // One pass over the file's signatures. A handle that searches the same data twice keeps a
      // copy from the second time on (a one-shot search would only pay for filling it).
      const bool keep = version == R.seen_version && R.writes == R.seen_writes;
      R.seen_version = version, R.seen_writes = R.writes;
      R.cache_ids.clear();
      R.cache_sigs.clear();
      R.cache_version = -1;
      Stmt s(R.db, R.path, "SELECT model, vec FROM signatures ORDER BY model");
      double v[64];
      NTN_CHECK(F <= 64, "registry search: a signature of ", F, " entries");
      while (s.step()) {
        if (!s.copy_doubles(1, F, v)) continue;  // another length: another signature version
        consider(s.i64(0), v);
        if (keep) R.cache_ids.push_back(s.i64(0)), R.cache_sigs.insert(R.cache_sigs.end(), v, v + F);
      }
      if (keep) R.cache_version = version, R.cache_writes = R.writes;
    }
    std::sort_heap(best.begin(), best.end());
    std::vector<SimilarModel> out;
    for (const auto& [key, id] : best) out.push_back({R.record_by_id(id), how == Similarity::euclidean ? key : -key});
    return out;
  });
}

namespace {

// A record's artifact and checkpoint bytes, each checked against its sha256; an error names the
// record, the file and what is wrong, after `what`.
struct ObjectBytes {
  std::string artifact, checkpoint;
};
ObjectBytes read_objects(const Registry& reg, const ModelRecord& r, const std::string& what) {
  auto one = [&](const std::string& p, const char* kind, const std::string& sha, std::uint64_t size) {
    std::string b;
    try {
      b = read_whole(p);
    } catch (const Error&) {
      throw Error(cat(what, ": the ", kind, " of ", r.name, "@", r.version, " ('", p, "') is missing"));
    }
    NTN_CHECK(b.size() == size && sha256_hex(b.data(), b.size()) == sha, what, ": the ", kind, " of ", r.name, "@",
              r.version, " ('", p, "') does not match its sha256");
    return b;
  };
  ObjectBytes o;
  o.artifact = one(reg.artifact_path(r), "artifact", r.sha256, r.size);
  if (!r.checkpoint_sha256.empty())
    o.checkpoint = one(reg.checkpoint_path(r), "checkpoint", r.checkpoint_sha256, r.checkpoint_size);
  return o;
}

}  // namespace

RegistryTransfer Registry::import_from(const std::string& from_path) {
  Impl& R = *impl_;
  NTN_CHECK(from_path != R.path, "registry import: '", from_path, "' is this registry");
  const Registry src = Registry::open(from_path, /*create=*/false);
  NTN_CHECK(src.impl_->objects != R.objects, "registry import: '", from_path, "' shares this registry's objects");
  std::vector<ModelRecord> recs = src.list();
  // Oldest first: versions keep their order and a parent comes before its children.
  std::reverse(recs.begin(), recs.end());
  // Every artifact is read and checked before anything is written.
  std::vector<ObjectBytes> bytes;
  for (const ModelRecord& r : recs) {
    try {
      bytes.push_back(read_objects(src, r, cat("registry import from '", from_path, "'")));
    } catch (const Error& e) {
      throw Error(cat(e.what(), "; nothing imported"));
    }
  }
  RegistryTransfer t;
  R.write([&] {
    for (std::size_t i = 0; i < recs.size(); ++i) {
      const ModelRecord& r = recs[i];
      if (R.find_uuid(r.uuid)) {
        ++t.skipped;
        t.lines.push_back(cat(r.name, "@", r.version, " (", r.uuid, "): already here, skipped"));
        continue;
      }
      const auto [version, renumbered] = R.insert(r, bytes[i].artifact, r.version, bytes[i].checkpoint);
      ++t.copied;
      if (renumbered) {
        ++t.renumbered;
        t.lines.push_back(cat(r.name, "@", r.version, " (", r.uuid, "): version taken here, imported as ", r.name, "@",
                              version));
      }
    }
  });
  return t;
}

RegistryTransfer Registry::export_to(const std::string& out_path, const RecordFilter& f) const {
  struct stat st {};
  NTN_CHECK(::stat(out_path.c_str(), &st) != 0, "registry export: '", out_path,
            "' exists; export writes a new registry (import adds to an existing one)");
  NTN_CHECK(::stat((out_path + ".objects").c_str(), &st) != 0, "registry export: '", out_path,
            ".objects' exists; choose another path");
  const std::vector<ModelRecord> keep = list(f);
  Registry out = Registry::open(out_path, /*create=*/true);
  // Copy from a filtered view: records outside the filter are not exported, and a parent that
  // is not exported stays named by its uuid.
  Impl& O = *out.impl_;
  RegistryTransfer t;
  O.write([&] {
    for (auto it = keep.rbegin(); it != keep.rend(); ++it) {
      const ObjectBytes b = read_objects(*this, *it, "registry export");
      O.insert(*it, b.artifact, it->version, b.checkpoint);
      ++t.copied;
    }
  });
  return t;
}

RegistryCheck Registry::check() const {
  RegistryCheck c;
  for (const ModelRecord& r : list()) {
    ++c.records;
    const std::string p = artifact_path(r);
    const std::string who = cat(r.name, "@", r.version, " (", r.uuid, ")");
    std::string bytes;
    try {
      bytes = read_whole(p);
    } catch (const Error&) {
      c.problems.push_back(cat(who, ": artifact '", p, "' is missing"));
      continue;
    }
    if (bytes.size() != r.size || sha256_hex(bytes.data(), bytes.size()) != r.sha256) {
      c.problems.push_back(cat(who, ": artifact '", p, "' does not match its sha256 (", bytes.size(), " bytes, ", r.size,
                               " recorded)"));
      continue;
    }
    try {
      auto file = std::make_shared<const SafeTensorsFile>(SafeTensorsFile::parse(std::move(bytes), p));
      const Artifact a = Artifact::from_file(file, false);
      if (a.uuid != r.uuid) {
        c.problems.push_back(cat(who, ": artifact '", p, "' holds model ", a.uuid));
        continue;
      }
    } catch (const Error& e) {
      c.problems.push_back(cat(who, ": artifact '", p, "' does not load: ", e.what()));
      continue;
    }
    if (!r.checkpoint_sha256.empty()) {
      const std::string cp = checkpoint_path(r);
      try {
        const std::string cb = read_whole(cp);
        if (cb.size() != r.checkpoint_size || sha256_hex(cb.data(), cb.size()) != r.checkpoint_sha256) {
          c.problems.push_back(cat(who, ": checkpoint '", cp, "' does not match its sha256"));
          continue;
        }
        check_checkpoint(cb, cp, r.model_config, who);
      } catch (const Error& e) {
        c.problems.push_back(cat(who, ": checkpoint '", cp, "': ", e.what()));
        continue;
      }
    }
    ++c.ok;
  }
  return c;
}

RegistryGc Registry::gc() {
  Impl& R = *impl_;
  RegistryGc out;
  R.write([&] {
    std::set<std::string> live;
    Stmt s(R.db, R.path, "SELECT DISTINCT sha256 FROM models");
    while (s.step()) live.insert(s.text(0) + ".ntn");
    Stmt c(R.db, R.path, "SELECT DISTINCT checkpoint_sha256 FROM models WHERE checkpoint_sha256 != ''");
    while (c.step()) live.insert(c.text(0) + ".ckpt");
    std::error_code ec;
    for (const auto& sub : std::filesystem::directory_iterator(R.objects, ec)) {
      std::error_code ec2;
      if (!sub.is_directory(ec2)) continue;
      for (const auto& e : std::filesystem::directory_iterator(sub.path(), ec2)) {
        const std::string name = e.path().filename().string();
        struct stat st {};
        if (::lstat(e.path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
        const bool temporary =
            name.find(".ntn.tmp.") != std::string::npos || name.find(".ckpt.tmp.") != std::string::npos;
        const bool object = (name.size() == 68 && name.ends_with(".ntn")) || (name.size() == 69 && name.ends_with(".ckpt"));
        // Under the write lock no writer is between writing an object and committing its record.
        if (temporary || (object && !live.count(name))) {
          std::error_code ec3;
          if (std::filesystem::remove(e.path(), ec3)) {
            (temporary ? out.temporaries_removed : out.objects_removed) += 1;
            out.bytes_freed += std::uint64_t(st.st_size);
          }
        }
      }
    }
  });
  return out;
}

}  // namespace ntn

namespace ntn {

namespace {

// registry:DB:REF -> the artifact's (or the checkpoint's) path; anything else as is.
std::string resolve_registry_file(const std::string& model, bool checkpoint, std::string* uuid) {
  const std::string prefix = "registry:";
  if (uuid) uuid->clear();
  if (model.rfind(prefix, 0) != 0) return model;
  const std::size_t colon = model.find(':', prefix.size());
  NTN_CHECK(colon != std::string::npos && colon > prefix.size() && colon + 1 < model.size(), "model '", model,
            "': expected registry:DB:NAME[@VERSION|@latest|@best|@best:METRIC|@STAGE] or registry:DB:UUID");
  const std::string db = model.substr(prefix.size(), colon - prefix.size()), ref = model.substr(colon + 1);
  const Registry reg = Registry::open(db, /*create=*/false);
  const ModelRecord r = reg.get(ref);
  NTN_CHECK(!checkpoint || !r.checkpoint_sha256.empty(), "model '", model, "': ", r.name, "@", r.version,
            " was registered without a training checkpoint (train it with --checkpoint FILE --register, or "
            "`ntneural registry add ... --checkpoint FILE`)");
  const std::string path = checkpoint ? reg.checkpoint_path(r) : reg.artifact_path(r);
  NTN_CHECK(::access(path.c_str(), R_OK) == 0, "model '", model, "': the ", checkpoint ? "checkpoint" : "artifact",
            " of ", r.name, "@", r.version, " ('", path, "') is missing; `ntneural registry check ", db,
            "` lists every such record");
  if (uuid) *uuid = r.uuid;
  return path;
}

}  // namespace

std::string resolve_model_file(const std::string& model) { return resolve_registry_file(model, false, nullptr); }

std::string resolve_checkpoint_file(const std::string& model, std::string* uuid) {
  return resolve_registry_file(model, true, uuid);
}

DataDescription describe_training_data(const std::vector<std::string>& names, const std::vector<std::vector<double>>& cols,
                                       std::size_t season, const nlohmann::json& source) {
  NTN_CHECK(!cols.empty() && names.size() == cols.size(), "describe training data: ", cols.size(), " series and ",
            names.size(), " names");
  DataDescription d;
  std::string fp;  // names and values, each value as its 8 little-endian bytes
  nlohmann::json summary = nlohmann::json::array();
  const std::size_t F = series_signature_names().size();
  d.signature.assign(F, 0.0);
  for (std::size_t c = 0; c < cols.size(); ++c) {
    const std::vector<double>& x = cols[c];
    std::vector<double> sig;
    try {
      // A series shorter than two seasons (and a point) is described without its season.
      sig = series_signature(x.data(), x.size(), x.size() >= 2 * season + 1 ? season : 0);
    } catch (const Error& e) {
      throw Error(cat("series '", names[c], "': ", e.what()));
    }
    for (std::size_t j = 0; j < F; ++j) d.signature[j] += sig[j] / double(cols.size());
    fp += names[c];
    fp.push_back('\0');
    fp.append(reinterpret_cast<const char*>(x.data()), x.size() * sizeof(double));
    double mean = 0, var = 0;
    for (double v : x) mean += v;
    mean /= double(x.size());
    for (double v : x) var += (v - mean) * (v - mean);
    summary.push_back({{"series", names[c]},
                       {"n", x.size()},
                       {"mean", mean},
                       {"std", std::sqrt(var / double(x.size()))},
                       {"min", *std::min_element(x.begin(), x.end())},
                       {"max", *std::max_element(x.begin(), x.end())},
                       {"first", x.front()},
                       {"last", x.back()}});
  }
  d.data = {{"fingerprint", sha256_hex(fp.data(), fp.size())}, {"summary", summary}, {"season", season}};
  if (!source.empty()) d.data["source"] = source;
  return d;
}

}  // namespace ntn
