// Helper of tests/io/test_registry_stress.sh: processes that write, read and verify one registry
// at the same time, through the library (each writer registers models with fresh uuids).
//   registry_stress writer DB COUNT TAG     register COUNT small models named TAG-<i> (COUNT 0: until killed)
//   registry_stress reader DB SECONDS       list, search, get and load in a loop; print the operations done
//   registry_stress verify DB [COUNT]       check() clean, every record loadable (and COUNT records if given)
//   registry_stress gc DB                   gc(); print the objects and temporaries removed
// Exit 0 on success; any error is printed on stderr with exit 1.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>

#include "ntn/error.h"
#include "ntn/features.h"
#include "ntn/models.h"
#include "ntn/pipeline.h"
#include "ntn/registry.h"
#include "ntn/safetensors.h"
#include "small_artifact.h"

using namespace ntn;

namespace {

int writer(const std::string& db, long count, const std::string& tag) {
  Artifact a = ntn::test::small_artifact();
  const std::string tmp = cat(std::filesystem::temp_directory_path().string(), "/ntn_stress_", ::getpid(), ".ntn");
  const std::string ckpt = tmp + ".ckpt";
  const std::string model_config = a.model->config().dump();
  std::mt19937_64 g(std::hash<std::string>{}(tag));
  std::uniform_real_distribution<double> u(-1, 1);
  Registry reg = Registry::open(db);
  for (long i = 0; count == 0 || i < count; ++i) {
    a.uuid = make_uuid();
    a.created = utc_now_iso8601();
    a.save(tmp);
    RegisterSpec s;
    s.name = cat(tag, "-", i % 50);
    s.tags = {tag, i % 2 ? "odd" : "even"};
    s.metrics = {{"val_loss", u(g) + 2}};
    s.signature.resize(series_signature_names().size());
    for (double& v : s.signature) v = u(g);
    if (i % 2) {  // every other model with a training checkpoint: two objects before the commit
      SafeTensorsWriter w;
      const std::vector<float> p(256, float(i));
      w.add("params", DType::f32, Shape{256}, p.data());
      w.metadata["format"] = "ntneural-checkpoint";
      w.metadata["model_config"] = model_config;
      w.metadata["train_config"] = "{}";
      w.metadata["trainer_state"] = "{}";
      w.write(ckpt);
      s.checkpoint = ckpt;
    }
    reg.add_file(tmp, s);
  }
  std::filesystem::remove(tmp);
  std::filesystem::remove(ckpt);
  return 0;
}

int reader(const std::string& db, double seconds) {
  Registry reg = Registry::open(db);
  std::mt19937_64 g(::getpid());
  std::uniform_real_distribution<double> u(-1, 1);
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  long ops = 0, loads = 0;
  while (std::chrono::steady_clock::now() < end) {
    const auto all = reg.list();
    std::vector<double> q(series_signature_names().size());
    for (double& v : q) v = u(g);
    const auto found = reg.search_like(q, 5, Similarity::cosine);
    // Writers only add: the search sees at least the records listed before it, and at most k.
    NTN_CHECK(found.size() >= std::min<std::size_t>(5, all.size()) && found.size() <= 5, "search returned ",
              found.size(), " records, with ", all.size(), " listed before it");
    if (!all.empty()) {
      const ModelRecord& r = all[std::size_t(g() % all.size())];
      NTN_CHECK(reg.get(r.uuid).sha256 == r.sha256, "record ", r.uuid, " changed");
      NTN_CHECK(reg.load(r.uuid, false).uuid == r.uuid, "artifact of ", r.uuid, " holds another model");
      ++loads;
    }
    ++ops;
  }
  std::printf("%ld %ld\n", ops, loads);
  return 0;
}

int verify(const std::string& db, long expected) {
  Registry reg = Registry::open(db, false);
  const RegistryCheck c = reg.check();
  for (const auto& p : c.problems) std::fprintf(stderr, "problem: %s\n", p.c_str());
  NTN_CHECK(c.problems.empty(), c.problems.size(), " problems in ", c.records, " records");
  std::size_t with_checkpoint = 0;
  for (const ModelRecord& r : reg.list()) {
    NTN_CHECK(reg.load(r.uuid, false).uuid == r.uuid, "cannot load ", r.uuid);
    with_checkpoint += !r.checkpoint_sha256.empty();
  }
  NTN_CHECK(c.records < 4 || with_checkpoint > 0, "no record with a checkpoint among ", c.records);
  NTN_CHECK(expected < 0 || long(c.records) == expected, c.records, " records, expected ", expected);
  std::printf("%zu\n", c.records);
  return 0;
}

int collect(const std::string& db) {
  Registry reg = Registry::open(db, false);
  const RegistryGc g = reg.gc();
  std::printf("%zu %zu\n", g.objects_removed, g.temporaries_removed);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string mode = argc > 2 ? argv[1] : "";
    if (mode == "writer" && argc == 5) return writer(argv[2], std::atol(argv[3]), argv[4]);
    if (mode == "reader" && argc == 4) return reader(argv[2], std::atof(argv[3]));
    if (mode == "gc" && argc == 3) return collect(argv[2]);
    if (mode == "verify" && (argc == 3 || argc == 4)) return verify(argv[2], argc == 4 ? std::atol(argv[3]) : -1);
    std::fprintf(stderr, "usage: registry_stress writer DB COUNT TAG | reader DB SECONDS | verify DB [COUNT] | gc DB\n");
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "registry_stress %s: %s\n", argc > 1 ? argv[1] : "", e.what());
    return 1;
  }
}
