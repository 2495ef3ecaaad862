// The model registry (ntn/registry.h) and the series signature it searches by (ntn/features.h).
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "expect_error.h"
#include "small_artifact.h"
#include "ntn/features.h"
#include "ntn/models.h"
#include "ntn/pipeline.h"
#include "ntn/registry.h"
#include "ntn/safetensors.h"

using namespace ntn;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

template <class F>
void expect_error(F&& f, const std::string& fragment) {
  ntn::test::expect_error(std::forward<F>(f), {fragment.c_str()});
}

std::vector<double> random_walk(std::size_t n, unsigned seed, double level = 100) {
  std::mt19937_64 g(seed);
  std::normal_distribution<double> e(0, 1);
  std::vector<double> x(n);
  double v = level;
  for (auto& xi : x) xi = v += e(g);
  return x;
}

std::vector<double> seasonal(std::size_t n, std::size_t m, unsigned seed) {
  std::mt19937_64 g(seed);
  std::normal_distribution<double> e(0, 0.1);
  std::vector<double> x(n);
  for (std::size_t t = 0; t < n; ++t) x[t] = 50 + 10 * std::sin(6.283185307179586 * double(t) / double(m)) + e(g);
  return x;
}

// A fresh folder per test, removed at the end.
struct TempDir {
  fs::path p;
  TempDir() {
    p = fs::temp_directory_path() / ("ntn_reg_" + std::to_string(::getpid()) + "_" +
                                     ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(p);
    fs::create_directories(p);
  }
  ~TempDir() { fs::remove_all(p); }
  std::string operator/(const std::string& name) const { return (p / name).string(); }
};

// A small real artifact (a fresh uuid each call) written to path.
std::string write_model(const std::string& path, const json& cfg = {{"type", "nhits"}, {"input_size", 16},
                                                                     {"horizon", 4}, {"mlp_units", {{8, 8}}}}) {
  Artifact a = ntn::test::small_artifact(cfg);
  a.training = {{"config", {{"lr", 0.001}, {"batch_size", 32}}}};
  a.save(path);
  return a.uuid;
}

std::vector<double> sig_of(double a, double b) {
  std::vector<double> s(series_signature_names().size(), 0.0);
  s[0] = a, s[1] = b;
  return s;
}

}  // namespace

// ---- signature ------------------------------------------------------------------------------

TEST(SeriesSignature, BoundedAndScaleFree) {
  const std::size_t F = series_signature_names().size();
  for (unsigned seed = 1; seed <= 3; ++seed) {
    for (const auto& [x, m] : {std::pair{random_walk(800, seed), std::size_t(0)}, std::pair{seasonal(800, 24, seed), std::size_t(24)},
                              std::pair{random_walk(300, seed + 10), std::size_t(5)}}) {
      const auto s = series_signature(x.data(), x.size(), m);
      ASSERT_EQ(s.size(), F);
      for (std::size_t j = 0; j < F; ++j) {
        EXPECT_TRUE(std::isfinite(s[j]) && s[j] >= -1 && s[j] <= 1) << series_signature_names()[j] << " = " << s[j];
      }
      std::vector<double> scaled(x), shifted(x);
      for (auto& v : scaled) v *= 7.25;
      for (auto& v : shifted) v += 1000;
      const auto ss = series_signature(scaled.data(), scaled.size(), m);
      const auto sh = series_signature(shifted.data(), shifted.size(), m);
      for (std::size_t j = 0; j < F; ++j) {
        EXPECT_NEAR(ss[j], s[j], 1e-9) << "scaled: " << series_signature_names()[j];
        if (series_signature_names()[j] != "rel_volatility") {
          EXPECT_NEAR(sh[j], s[j], 1e-6) << "shifted: " << series_signature_names()[j];
        }
      }
    }
  }
}

TEST(SeriesSignature, MeasuresWhatItNames) {
  auto at = [](const std::vector<double>& s, const char* name) {
    const auto& n = series_signature_names();
    return s[std::size_t(std::find(n.begin(), n.end(), name) - n.begin())];
  };
  const auto rw = random_walk(2000, 7);
  const auto s_rw = series_signature(rw.data(), rw.size(), 0);
  EXPECT_GT(at(s_rw, "acf1"), 0.9);                        // a level that wanders
  EXPECT_LT(std::fabs(at(s_rw, "diff_acf1")), 0.1);        // steps that do not remember
  EXPECT_GT(at(s_rw, "spectral_entropy"), 0.9);            // white steps: a flat spectrum
  const auto se = seasonal(2000, 24, 7);
  const auto s_se = series_signature(se.data(), se.size(), 24);
  EXPECT_GT(at(s_se, "seasonal_strength"), 0.95);
  EXPECT_GT(at(s_se, "season_acf"), 0.9);
  EXPECT_LT(at(s_se, "spectral_entropy"), 0.5);            // one frequency
  EXPECT_EQ(at(s_rw, "seasonal_strength"), 0.0);           // no season given
  // Volatility clustering: calm and wild stretches alternate.
  std::mt19937_64 g(3);
  std::normal_distribution<double> e(0, 1);
  std::vector<double> vc(4000);
  double v = 100;
  for (std::size_t t = 0; t < vc.size(); ++t) vc[t] = v += e(g) * ((t / 200) % 2 ? 5.0 : 0.2);
  EXPECT_GT(at(series_signature(vc.data(), vc.size(), 0), "arch_acf1"), 0.1);
  EXPECT_LT(std::fabs(at(s_rw, "arch_acf1")), 0.1);
  // A constant series: defined, all zero but nothing NaN.
  std::vector<double> c(100, 3.0);
  for (double s : series_signature(c.data(), c.size(), 7)) EXPECT_TRUE(std::isfinite(s));
}

TEST(SeriesSignature, BadInputNamesTheProblem) {
  std::vector<double> x = random_walk(100, 1);
  expect_error([&] { series_signature(x.data(), 15, 0); }, "too short (needs at least 16");
  expect_error([&] { series_signature(x.data(), 100, 50); }, "needs at least 101 for season 50");
  x[42] = std::nan("");
  expect_error([&] { series_signature(x.data(), 100, 0); }, "x[42] = nan is not finite");
  x[42] = 1e308 * 10;
  expect_error([&] { series_signature(x.data(), 100, 0); }, "x[42] = inf");
}

// ---- registry -------------------------------------------------------------------------------

TEST(Registry, AddGetListVersionsAndReferences) {
  TempDir d;
  Registry reg = Registry::open(d / "r.db");
  const std::string u1 = write_model(d / "a.ntn"), u2 = write_model(d / "b.ntn"), u3 = write_model(d / "c.ntn");
  RegisterSpec s;
  s.name = "dax";
  s.tags = {"index", "daily", "index"};
  s.metrics = {{"val_loss", 0.5}, {"mae", 2}};
  s.signature = sig_of(1, 0);
  const ModelRecord r1 = reg.add_file(d / "a.ntn", s);
  EXPECT_EQ(r1.version, 1);
  EXPECT_EQ(r1.uuid, u1);
  EXPECT_EQ(r1.tags, (std::vector<std::string>{"daily", "index"}));
  s.metrics = {{"val_loss", 0.3}, {"mae", 3}};
  s.parent = u1;
  EXPECT_EQ(reg.add_file(d / "b.ntn", s).version, 2);
  s.metrics = {{"val_loss", 0.4}};
  s.parent = "";
  s.tags = {"weekly"};
  EXPECT_EQ(reg.add_file(d / "c.ntn", s).version, 3);

  EXPECT_EQ(reg.get("dax").uuid, u3);
  EXPECT_EQ(reg.get("dax@latest").uuid, u3);
  EXPECT_EQ(reg.get("dax@1").uuid, u1);
  EXPECT_EQ(reg.get(u2).version, 2);
  EXPECT_EQ(reg.get("dax@best").uuid, u2);      // lowest val_loss
  EXPECT_EQ(reg.get("dax@best:mae").uuid, u1);  // lowest mae among those that have it
  const ModelRecord g = reg.get("dax@2");
  EXPECT_EQ(g.parent, u1);
  EXPECT_EQ(g.model_type, "nhits");
  EXPECT_EQ(g.model_config.at("input_size"), 16);
  EXPECT_EQ(g.train_config.at("batch_size"), 32);
  EXPECT_EQ(g.signature, sig_of(1, 0));
  EXPECT_TRUE(fs::exists(reg.artifact_path(g)));
  EXPECT_EQ(reg.load("dax@2").uuid, u2);

  // A second handle on the same file sees the same records.
  Registry again = Registry::open(d / "r.db", false);
  EXPECT_EQ(again.list().size(), 3u);
  EXPECT_EQ(again.list().front().uuid, u3);  // newest first
}

TEST(Registry, EveryFilter) {
  TempDir d;
  Registry reg = Registry::open(d / "r.db");
  std::vector<std::string> u;
  const json small = {{"type", "nhits"}, {"input_size", 16}, {"horizon", 4}, {"mlp_units", {{8, 8}}}};
  const json big = {{"type", "nhits"}, {"input_size", 24}, {"horizon", 4}, {"mlp_units", {{8, 8}}}};
  const json mlp = {{"type", "mlp"}, {"input_size", 16}, {"horizon", 4}, {"hidden_size", 8}, {"num_layers", 1}};
  const json cfgs[] = {small, big, mlp, small};
  const char* names[] = {"a", "a", "b", "c"};
  const std::vector<std::vector<std::string>> tags = {{"x", "y"}, {"x"}, {"y"}, {}};
  for (int i = 0; i < 4; ++i) {
    u.push_back(write_model(d / cat("m", i, ".ntn"), cfgs[i]));
    RegisterSpec s;
    s.name = names[i];
    s.tags = tags[std::size_t(i)];
    s.metrics = {{"val_mae", 0.1 * (i + 1)}};
    if (i == 1) s.parent = u[0];
    if (i == 3) s.metrics = json::object();
    reg.add_file(d / cat("m", i, ".ntn"), s);
  }
  auto uuids = [&](const RecordFilter& f) {
    std::set<std::string> out;
    for (const auto& r : reg.list(f)) out.insert(r.uuid);
    return out;
  };
  RecordFilter f;
  EXPECT_EQ(uuids(f).size(), 4u);
  f = {}, f.name = "a";
  EXPECT_EQ(uuids(f), (std::set<std::string>{u[0], u[1]}));
  f.version = 2;
  EXPECT_EQ(uuids(f), (std::set<std::string>{u[1]}));
  f = {}, f.model_types = {"mlp"};
  EXPECT_EQ(uuids(f), (std::set<std::string>{u[2]}));
  f = {}, f.tags_any = {"y", "zz"};
  EXPECT_EQ(uuids(f), (std::set<std::string>{u[0], u[2]}));
  f = {}, f.tags_all = {"x", "y"};
  EXPECT_EQ(uuids(f), (std::set<std::string>{u[0]}));
  f = {}, f.metrics = {{"val_mae", std::nullopt, 0.25}};
  EXPECT_EQ(uuids(f), (std::set<std::string>{u[0], u[1]}));
  f = {}, f.metrics = {{"val_mae", 0.15, 0.35}};
  EXPECT_EQ(uuids(f), (std::set<std::string>{u[1], u[2]}));
  f = {}, f.parent = u[0];
  EXPECT_EQ(uuids(f), (std::set<std::string>{u[1]}));
  f = {}, f.config = {{"model.input_size", 24}};
  EXPECT_EQ(uuids(f), (std::set<std::string>{u[1]}));
  f = {}, f.config = {{"model.mlp_units", json::array({json::array({8, 8})})}, {"train.lr", 0.001}};
  EXPECT_EQ(uuids(f), (std::set<std::string>{u[0], u[1], u[3]}));
  f = {}, f.created_after = "2000-01-01", f.created_before = "2999-01-01";
  EXPECT_EQ(uuids(f).size(), 4u);
  f.created_before = "2001-01-01";
  EXPECT_TRUE(uuids(f).empty());
  f = {}, f.limit = 2;
  EXPECT_EQ(uuids(f), (std::set<std::string>{u[3], u[2]}));  // the newest two
}

TEST(Registry, TagsStagesMetricsRemoveCheckGc) {
  TempDir d;
  Registry reg = Registry::open(d / "r.db");
  RegisterSpec s;
  s.name = "m";
  write_model(d / "1.ntn");
  write_model(d / "2.ntn");
  reg.add_file(d / "1.ntn", s);
  reg.add_file(d / "2.ntn", s);
  reg.tag("m@1", {"good", "x"}, {});
  reg.tag("m@1", {}, {"x"});
  EXPECT_EQ(reg.get("m@1").tags, std::vector<std::string>{"good"});
  reg.promote("m@1", "production");
  EXPECT_EQ(reg.get("m@production").version, 1);
  reg.promote("m@2", "production");  // one production version per name
  EXPECT_EQ(reg.get("m@production").version, 2);
  EXPECT_EQ(reg.get("m@1").stage, "archived");
  reg.set_metrics("m@2", {{"mae", 1.5}});
  reg.set_metrics("m@2", {{"mse", 2.5}});
  EXPECT_EQ(reg.get("m@2").metrics, (json{{"mae", 1.5}, {"mse", 2.5}}));

  RegistryCheck c = reg.check();
  EXPECT_EQ(c.records, 2u);
  EXPECT_EQ(c.ok, 2u);
  EXPECT_TRUE(c.problems.empty());

  // rm keeps the object until gc; gc removes it and a stale temporary, nothing that is referenced.
  const std::string gone = reg.artifact_path(reg.get("m@1"));
  reg.remove("m@1");
  EXPECT_TRUE(fs::exists(gone));
  std::ofstream(reg.artifact_path(reg.get("m@2")) + ".tmp.999999") << "partial";
  const RegistryGc g = reg.gc();
  EXPECT_EQ(g.objects_removed, 1u);
  EXPECT_EQ(g.temporaries_removed, 1u);
  EXPECT_FALSE(fs::exists(gone));
  EXPECT_EQ(reg.check().ok, 1u);
  expect_error([&] { reg.get("m@1"); }, "has no model 'm@1' (versions of 'm': 2)");

  // A damaged or missing artifact is named by check.
  const std::string obj = reg.artifact_path(reg.get("m@2"));
  {
    std::fstream f(obj, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(100);
    f.put('\x42');
  }
  c = reg.check();
  ASSERT_EQ(c.problems.size(), 1u);
  EXPECT_NE(c.problems[0].find("m@2"), std::string::npos);
  EXPECT_NE(c.problems[0].find("does not match its sha256"), std::string::npos);
  fs::remove(obj);
  c = reg.check();
  ASSERT_EQ(c.problems.size(), 1u);
  EXPECT_NE(c.problems[0].find("is missing"), std::string::npos);
  expect_error([&] { reg.load("m"); }, "is missing");
}

TEST(Registry, BadInputIsAClearErrorAndChangesNothing) {
  TempDir d;
  Registry reg = Registry::open(d / "r.db");
  const std::string u = write_model(d / "ok.ntn");
  write_model(d / "ok2.ntn");
  std::ofstream(d / "junk.ntn") << "this is not a model";
  RegisterSpec good;
  good.name = "ok";
  reg.add_file(d / "ok.ntn", good);
  struct Case {
    const char* name;
    std::function<void(RegisterSpec&, std::string&)> edit;
    const char* fragment;
  };
  const std::vector<Case> cases = {
      {"empty_name", [](RegisterSpec& s, std::string&) { s.name = ""; }, "model name ''"},
      {"space_in_name", [](RegisterSpec& s, std::string&) { s.name = "a b"; }, "model name 'a b' must be"},
      {"long_name", [](RegisterSpec& s, std::string&) { s.name = std::string(129, 'a'); }, "1..128 characters"},
      {"uuid_name", [&](RegisterSpec& s, std::string&) { s.name = u; }, "looks like a uuid"},
      {"bad_tag", [](RegisterSpec& s, std::string&) { s.tags = {"ok", "no;way"}; }, "tag 'no;way'"},
      {"nan_metric", [](RegisterSpec& s, std::string&) { s.metrics = {{"mae", NAN}}; }, "metric 'mae'"},
      {"text_metric", [](RegisterSpec& s, std::string&) { s.metrics = {{"mae", "low"}}; }, "is not a finite number"},
      {"bad_metric_name", [](RegisterSpec& s, std::string&) { s.metrics = {{"a.b", 1}}; }, "metric name 'a.b'"},
      {"metrics_not_object", [](RegisterSpec& s, std::string&) { s.metrics = json::array({1}); }, "JSON object"},
      {"bad_stage", [](RegisterSpec& s, std::string&) { s.stage = "prod"; }, "stage 'prod'"},
      {"parent_not_uuid", [](RegisterSpec& s, std::string&) { s.parent = "dax@1"; }, "is not a uuid"},
      {"parent_unknown", [](RegisterSpec& s, std::string&) { s.parent = "00000000-0000-0000-0000-000000000000"; },
       "is not in registry"},
      {"short_signature", [](RegisterSpec& s, std::string&) { s.signature = {1, 2}; }, "(got 2)"},
      {"nan_signature",
       [](RegisterSpec& s, std::string&) {
         s.signature = sig_of(1, 0);
         s.signature[3] = NAN;
       },
       "signature entry 3 (diff_season_acf)"},
      {"same_uuid_again", [&](RegisterSpec&, std::string& p) { p = d / "ok.ntn"; }, "already holds model"},
      {"missing_file", [&](RegisterSpec&, std::string& p) { p = d / "nope.ntn"; }, "nope.ntn"},
      {"not_a_model", [&](RegisterSpec&, std::string& p) { p = d / "junk.ntn"; }, "junk.ntn"},
      {"a_directory", [&](RegisterSpec&, std::string& p) { p = d.p.string(); }, "is not a regular file"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    RegisterSpec s = good;
    s.name = "other";
    std::string path = d / "ok2.ntn";
    c.edit(s, path);
    expect_error([&] { reg.add_file(path, s); }, c.fragment);
  }
  EXPECT_EQ(reg.list().size(), 1u);  // nothing half-added
  EXPECT_EQ(reg.gc().objects_removed, 0u);

  const std::vector<std::pair<std::string, std::string>> refs = {
      {"", "empty model reference"},
      {"nope", "has no model 'nope' (no model of that name)"},
      {"ok@7", "has no model 'ok@7' (versions of 'ok': 1)"},
      {"ok@soon", "after '@' expected a version number"},
      {"ok@-1", "after '@' expected a version number"},
      {"ok@99999999999999999999", "after '@' expected a version number"},
      {"ok@best", "has no model 'ok@best'"},  // no val_loss recorded
      {"ok@best:a'b", "metric name"},
      {"00000000-0000-0000-0000-000000000000", "no model with uuid"},
      {"b a d", "model name 'b a d'"},
  };
  for (const auto& rf : refs) {
    SCOPED_TRACE(rf.first);
    expect_error([&] { reg.get(rf.first); }, rf.second);
  }
  expect_error([&] { reg.promote("ok", "live"); }, "stage 'live'");
  expect_error([&] { reg.tag("ok", {"a b"}, {}); }, "tag 'a b'");
  expect_error([&] { reg.set_metrics("ok", {{"x", INFINITY}}); }, "metric 'x'");
  RecordFilter f;
  f.config = {{"input_size", 16}};
  expect_error([&] { reg.list(f); }, "must start with model. or train.");
  expect_error([&] { reg.search_like({1, 2, 3}, 5, Similarity::cosine); }, "(got 3)");
  expect_error([&] { reg.search_like(sig_of(1, 0), 0, Similarity::cosine); }, "k must be");
  expect_error([] { parse_similarity("manhattan"); }, "unknown similarity 'manhattan'");
}

TEST(Registry, OpenRefusesWhatIsNotARegistry) {
  TempDir d;
  std::ofstream(d / "text.db") << "name,value\na,1\n";
  expect_error([&] { Registry::open(d / "text.db"); }, "not an ntneural registry (not an SQLite database)");
  std::ofstream(d / "empty.db").close();
  expect_error([&] { Registry::open(d / "empty.db", false); }, "is an empty file");
  expect_error([&] { Registry::open(d / "missing.db", false); }, "does not exist");
  expect_error([&] { Registry::open(d.p.string()); }, "is not a regular file");
  {  // another program's SQLite database
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((d / "other.db").c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE prices(t, v); INSERT INTO prices VALUES (1, 2);", nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  }
  expect_error([&] { Registry::open(d / "other.db"); }, "is an SQLite database but not an ntneural registry");
  {  // a registry from a newer ntneural
    Registry::open(d / "new.db");
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((d / "new.db").c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "UPDATE meta SET value = '99' WHERE key = 'schema';", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
  }
  expect_error([&] { Registry::open(d / "new.db"); }, "written by a newer ntneural");
  {  // a truncated database
    Registry r = Registry::open(d / "cut.db");
    write_model(d / "m.ntn");
    RegisterSpec s;
    s.name = "m";
    r.add_file(d / "m.ntn", s);
  }
  // (checkpoint the WAL into the main file first, then cut the file in the middle of its pages)
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((d / "cut.db").c_str(), &db), SQLITE_OK);
    sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode = DELETE;", nullptr, nullptr, nullptr);
    sqlite3_close(db);
  }
  fs::resize_file(d / "cut.db", 4096 + 100);
  bool failed_clearly = false;
  try {
    Registry r = Registry::open(d / "cut.db", false);
    r.list();
  } catch (const Error& e) {
    failed_clearly = std::string(e.what()).find("cut.db") != std::string::npos;
  }
  EXPECT_TRUE(failed_clearly);
}

TEST(Registry, SearchLikeRanksByEachSimilarity) {
  TempDir d;
  Registry reg = Registry::open(d / "r.db");
  // Signatures along two directions with different lengths.
  const std::vector<std::vector<double>> sigs = {sig_of(1, 0), sig_of(0.5, 0.05), sig_of(0, 1), sig_of(0.7, 0.7)};
  std::vector<std::string> u;
  for (std::size_t i = 0; i < sigs.size(); ++i) {
    u.push_back(write_model(d / cat(i, ".ntn")));
    RegisterSpec s;
    s.name = cat("m", i);
    s.signature = sigs[i];
    s.tags = {i % 2 ? "odd" : "even"};
    reg.add_file(d / cat(i, ".ntn"), s);
  }
  write_model(d / "nosig.ntn");
  RegisterSpec s;
  s.name = "nosig";
  reg.add_file(d / "nosig.ntn", s);  // never found by search_like

  auto order = [&](Similarity how, const std::vector<double>& q, std::size_t k, const RecordFilter& f = {}) {
    std::vector<std::string> names;
    for (const auto& m : reg.search_like(q, k, how, f)) names.push_back(m.record.name);
    return names;
  };
  const auto q = sig_of(1, 0.02);
  EXPECT_EQ(order(Similarity::cosine, q, 10), (std::vector<std::string>{"m0", "m1", "m3", "m2"}));
  EXPECT_EQ(order(Similarity::euclidean, q, 10), (std::vector<std::string>{"m0", "m1", "m3", "m2"}));
  EXPECT_EQ(order(Similarity::dot, q, 2), (std::vector<std::string>{"m0", "m3"}));
  const auto near = reg.search_like(q, 1, Similarity::euclidean);
  EXPECT_NEAR(near[0].score, 0.02, 1e-12);  // the distance itself
  RecordFilter odd;
  odd.tags_any = {"odd"};
  EXPECT_EQ(order(Similarity::cosine, q, 10, odd), (std::vector<std::string>{"m1", "m3"}));

  // The in-memory copy follows writes from this handle and from another process's handle.
  Registry other = Registry::open(d / "r.db", false);
  write_model(d / "late.ntn");
  RegisterSpec l;
  l.name = "late";
  l.signature = sig_of(1, 0.02);
  other.add_file(d / "late.ntn", l);
  EXPECT_EQ(order(Similarity::euclidean, q, 1), std::vector<std::string>{"late"});
  reg.remove("late");
  EXPECT_EQ(order(Similarity::euclidean, q, 1), std::vector<std::string>{"m0"});
}

TEST(Registry, ExportImportKeepRecordsAndRefuseDamage) {
  TempDir d;
  Registry reg = Registry::open(d / "r.db");
  std::vector<std::string> u;
  for (int i = 0; i < 3; ++i) {
    u.push_back(write_model(d / cat(i, ".ntn")));
    RegisterSpec s;
    s.name = i < 2 ? "a" : "b";
    s.tags = {cat("t", i)};
    s.metrics = {{"val_loss", i}};
    s.signature = sig_of(i, 1);
    if (i == 1) s.parent = u[0], s.stage = "production";
    reg.add_file(d / cat(i, ".ntn"), s);
  }
  RecordFilter only_a;
  only_a.name = "a";
  EXPECT_EQ(reg.export_to(d / "a.db", only_a).copied, 2u);
  expect_error([&] { reg.export_to(d / "a.db"); }, "exists; export writes a new registry");
  Registry copy = Registry::open(d / "copy.db");
  const RegistryTransfer t = copy.import_from(d / "a.db");
  EXPECT_EQ(t.copied, 2u);
  EXPECT_EQ(t.renumbered, 0u);
  for (int i = 0; i < 2; ++i) {
    const ModelRecord x = reg.get(u[std::size_t(i)]), y = copy.get(u[std::size_t(i)]);
    EXPECT_EQ(x.to_json(), y.to_json());  // every field, times and stage included
    EXPECT_EQ(copy.load(u[std::size_t(i)]).uuid, u[std::size_t(i)]);
  }
  EXPECT_EQ(copy.import_from(d / "a.db").skipped, 2u);
  EXPECT_EQ(copy.check().ok, 2u);
  // A version taken here: the next one; a damaged artifact in the source: nothing imported.
  Registry other = Registry::open(d / "other.db");
  write_model(d / "x.ntn");
  RegisterSpec s;
  s.name = "a";
  other.add_file(d / "x.ntn", s);
  const RegistryTransfer t2 = copy.import_from(d / "other.db");
  EXPECT_EQ(t2.renumbered, 1u);
  EXPECT_EQ(copy.get("a").version, 3);
  Registry bad = Registry::open(d / "bad.db");
  write_model(d / "y.ntn");
  write_model(d / "z.ntn");
  s.name = "y";
  bad.add_file(d / "y.ntn", s);
  s.name = "z";
  bad.add_file(d / "z.ntn", s);
  {
    std::fstream f(bad.artifact_path(bad.get("z")), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(64);
    f.put('\x13');
  }
  const std::size_t before = copy.list().size();
  expect_error([&] { copy.import_from(d / "bad.db"); }, "z@1");
  EXPECT_EQ(copy.list().size(), before);
  expect_error([&] { copy.import_from(d / "copy.db"); }, "is this registry");
}

TEST(Registry, TrainingDataDescription) {
  const auto a = random_walk(300, 1), b = random_walk(30, 2);  // b: shorter than two seasons of 24
  const DataDescription d = describe_training_data({"a", "b"}, {a, b}, 24, {{"path", "x.csv"}});
  const auto sa = series_signature(a.data(), a.size(), 24), sb = series_signature(b.data(), b.size(), 0);
  ASSERT_EQ(d.signature.size(), sa.size());
  for (std::size_t j = 0; j < sa.size(); ++j) EXPECT_DOUBLE_EQ(d.signature[j], sa[j] / 2 + sb[j] / 2);
  EXPECT_EQ(d.data["summary"][1]["n"], 30);
  EXPECT_EQ(d.data["summary"][0]["first"], a.front());
  EXPECT_EQ(d.data["source"]["path"], "x.csv");
  EXPECT_EQ(d.data["fingerprint"].get<std::string>().size(), 64u);
  // The fingerprint follows the values and the names.
  auto a2 = a;
  a2[7] += 1e-9;
  EXPECT_NE(describe_training_data({"a", "b"}, {a2, b}, 24).data["fingerprint"], d.data["fingerprint"]);
  EXPECT_NE(describe_training_data({"a", "c"}, {a, b}, 24).data["fingerprint"], d.data["fingerprint"]);
  std::vector<double> bad = b;
  bad[3] = NAN;
  expect_error([&] { describe_training_data({"a", "b"}, {a, bad}, 24); }, "series 'b': series signature: x[3]");
}

namespace {

// A training checkpoint of the model whose config is model_config (the layout Trainer writes:
// format, model_config, params; what the registry checks of one).
void write_checkpoint(const std::string& path, const json& model_config, float fill = 0.5f) {
  SafeTensorsWriter w;
  const std::vector<float> p(64, fill);
  w.add("params", DType::f32, Shape{64}, p.data());
  w.add("optim.exp_avg", DType::f32, Shape{64}, p.data());
  w.metadata["format"] = "ntneural-checkpoint";
  w.metadata["model_config"] = model_config.dump();
  w.metadata["train_config"] = json{{"lr", 0.001}}.dump();
  w.metadata["trainer_state"] = json{{"step", 10}}.dump();
  w.write(path);
}

std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST(Registry, CheckpointsTravelWithTheirModel) {
  TempDir d;
  Registry reg = Registry::open(d / "r.db");
  write_model(d / "m.ntn");
  const json mc = Artifact::load(d / "m.ntn").model->config();
  write_checkpoint(d / "m.ckpt", mc);
  RegisterSpec s;
  s.name = "m";
  s.checkpoint = d / "m.ckpt";
  const ModelRecord r = reg.add_file(d / "m.ntn", s);
  ASSERT_EQ(r.checkpoint_sha256.size(), 64u);
  EXPECT_EQ(r.checkpoint_size, fs::file_size(d / "m.ckpt"));
  EXPECT_EQ(reg.get("m").checkpoint_sha256, r.checkpoint_sha256);
  const std::string cp = reg.checkpoint_path(reg.get("m"));
  EXPECT_EQ(read_bytes(cp), read_bytes(d / "m.ckpt"));
  std::string uuid = "stale";
  EXPECT_EQ(resolve_checkpoint_file("registry:" + (d / "r.db") + ":m@1", &uuid), cp);
  EXPECT_EQ(uuid, r.uuid);
  EXPECT_EQ(resolve_checkpoint_file(d / "m.ckpt", &uuid), d / "m.ckpt");
  EXPECT_EQ(uuid, "");

  // What is not a checkpoint of this model changes nothing.
  write_model(d / "other.ntn", {{"type", "nhits"}, {"input_size", 16}, {"horizon", 4}, {"mlp_units", {{16, 16}}}});
  write_checkpoint(d / "other.ckpt", Artifact::load(d / "other.ntn").model->config());
  write_model(d / "n.ntn");
  const struct {
    std::string checkpoint, fragment;
  } bad[] = {
      {d / "nope.ckpt", "nope.ckpt"},
      {d / "m.ntn", "is not an ntneural training checkpoint"},
      {d / "other.ckpt", "is of another model"},
  };
  for (const auto& c : bad) {
    SCOPED_TRACE(c.checkpoint);
    RegisterSpec b;
    b.name = "n";
    b.checkpoint = c.checkpoint;
    expect_error([&] { reg.add_file(d / "n.ntn", b); }, c.fragment);
  }
  EXPECT_EQ(reg.list().size(), 1u);
  RegisterSpec plain;
  plain.name = "n";
  reg.add_file(d / "n.ntn", plain);
  EXPECT_EQ(reg.checkpoint_path(reg.get("n")), "");
  expect_error([&] { resolve_checkpoint_file("registry:" + (d / "r.db") + ":n"); },
               "n@1 was registered without a training checkpoint");

  // Export and import carry it; check verifies it.
  reg.export_to(d / "copy.db");
  Registry copy = Registry::open(d / "copy.db", false);
  EXPECT_EQ(read_bytes(copy.checkpoint_path(copy.get("m"))), read_bytes(d / "m.ckpt"));
  EXPECT_EQ(copy.check().ok, 2u);
  Registry back = Registry::open(d / "back.db");
  back.import_from(d / "copy.db");
  EXPECT_EQ(back.get("m").checkpoint_sha256, r.checkpoint_sha256);
  EXPECT_EQ(back.check().ok, 2u);
  {
    std::fstream f(cp, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(40);
    f.put('\x7f');
  }
  RegistryCheck c = reg.check();
  ASSERT_EQ(c.problems.size(), 1u);
  EXPECT_NE(c.problems[0].find("m@1"), std::string::npos);
  EXPECT_NE(c.problems[0].find("checkpoint"), std::string::npos);
  expect_error([&] { reg.export_to(d / "x.db"); }, "the checkpoint of m@1");
  expect_error([&] { Registry::open(d / "y.db").import_from(d / "r.db"); }, "the checkpoint of m@1");
  fs::remove(cp);
  c = reg.check();
  ASSERT_EQ(c.problems.size(), 1u);
  EXPECT_NE(c.problems[0].find("checkpoint"), std::string::npos);

  // gc keeps a referenced checkpoint and removes an unreferenced one with its artifact.
  const std::string bcp = back.checkpoint_path(back.get("m"));
  EXPECT_EQ(back.gc().objects_removed, 0u);
  EXPECT_TRUE(fs::exists(bcp));
  back.remove("m");
  const RegistryGc g = back.gc();
  EXPECT_EQ(g.objects_removed, 2u);
  EXPECT_FALSE(fs::exists(bcp));
  EXPECT_EQ(back.check().ok, 1u);
}

TEST(Registry, SchemaOneFileIsUpgradedInPlace) {
  TempDir d;
  std::string uuid;
  {
    Registry reg = Registry::open(d / "r.db");
    write_model(d / "m.ntn");
    RegisterSpec s;
    s.name = "m";
    s.tags = {"old"};
    uuid = reg.add_file(d / "m.ntn", s).uuid;
  }
  {  // what a schema-1 registry looked like: no checkpoint columns
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((d / "r.db").c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db,
                           "ALTER TABLE models DROP COLUMN checkpoint_sha256; ALTER TABLE models DROP COLUMN "
                           "checkpoint_size; UPDATE meta SET value = '1' WHERE key = 'schema';",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  }
  Registry reg = Registry::open(d / "r.db", false);
  const ModelRecord r = reg.get("m");
  EXPECT_EQ(r.uuid, uuid);
  EXPECT_EQ(r.tags, std::vector<std::string>{"old"});
  EXPECT_EQ(r.checkpoint_sha256, "");
  EXPECT_EQ(reg.check().ok, 1u);
  write_model(d / "m2.ntn");
  write_checkpoint(d / "m2.ckpt", Artifact::load(d / "m2.ntn").model->config());
  RegisterSpec s;
  s.name = "m";
  s.checkpoint = d / "m2.ckpt";
  EXPECT_EQ(reg.add_file(d / "m2.ntn", s).version, 2);
  EXPECT_EQ(Registry::open(d / "r.db", false).check().ok, 2u);
}

TEST(Registry, OneHandleSharedByThreads) {
  TempDir d;
  Registry reg = Registry::open(d / "r.db");
  constexpr int kThreads = 4, kEach = 6;
  std::vector<std::string> files;
  for (int i = 0; i < kThreads * kEach; ++i) {
    files.push_back(d / ("m" + std::to_string(i) + ".ntn"));
    write_model(files.back());
  }
  std::vector<std::string> errors(kThreads);
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t)
    ts.emplace_back([&, t] {
      try {
        for (int i = 0; i < kEach; ++i) {
          RegisterSpec s;
          s.name = "t" + std::to_string(t);
          s.signature = sig_of(t, i);
          s.metrics = {{"val_loss", i}};
          reg.add_file(files[std::size_t(t * kEach + i)], s);
          (void)reg.list();
          (void)reg.search_like(sig_of(1, 1), 3, Similarity::cosine);
          reg.tag(s.name, {"seen"}, {});
          (void)reg.get(s.name + "@best");
        }
      } catch (const std::exception& e) {
        errors[std::size_t(t)] = e.what();
      }
    });
  for (auto& th : ts) th.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(errors[std::size_t(t)], "") << "thread " << t;
  EXPECT_EQ(reg.list().size(), std::size_t(kThreads * kEach));
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(reg.get("t" + std::to_string(t)).version, kEach);
  EXPECT_EQ(reg.check().ok, std::size_t(kThreads * kEach));
}
