#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "expect_error.h"
#include "ntn/csv.h"
#include "ntn/error.h"
#include "ntn/safetensors.h"

namespace ntn {
namespace {

std::string tmp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("ntn_test_" + std::to_string(::getpid()) + "_" + name)).string();
}

using test::expect_error;

// Tensors are not aligned by the format: an odd-sized int8 tensor shifts the f32 one after it.
// get_f32 still hands out floats (an aligned copy), never a misaligned float pointer.
TEST(SafeTensors, MisalignedF32TensorsAreReadThroughACopy) {
  const std::string path = tmp_path("odd.safetensors");
  const std::int8_t q[3] = {1, 2, 3};
  const float w[4] = {1.5f, -2.0f, 3.25f, 1e-3f};
  SafeTensorsWriter wr;
  wr.add("a.q", DType::i8, {3}, q);  // written first (names in order): 3 bytes
  wr.add("b.w", DType::f32, {4}, w);
  wr.write(path);
  const SafeTensorsFile f = SafeTensorsFile::read(path);
  const void* raw = f.get("b.w", DType::f32, {4});
  std::vector<float> tmp;
  const float* got = f.get_f32("b.w", {4}, tmp);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(got) % alignof(float), 0u);
  EXPECT_NE(reinterpret_cast<std::uintptr_t>(raw) % alignof(float), 0u);  // the case this test is about
  EXPECT_EQ(got, tmp.data());
  for (int i = 0; i < 4; ++i) EXPECT_EQ(got[i], w[i]) << i;
  std::filesystem::remove(path);
}

TEST(SafeTensors, RoundTripWithMetadata) {
  const std::string path = tmp_path("rt.safetensors");
  const float w[6] = {1, 2, 3, 4, 5, 6};
  const std::int8_t q[3] = {-1, 0, 7};
  SafeTensorsWriter wr;
  wr.add("layer.weight", DType::f32, {2, 3}, w);
  wr.add("layer.q", DType::i8, {3}, q);
  wr.metadata["model_type"] = "nhits";
  wr.write(path);
  const std::string bytes = read_file(path);
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | std::uint8_t(bytes[std::size_t(i)]);
  EXPECT_EQ((8 + n) % 8, 0u);  // data section 8-byte aligned
  SafeTensorsFile f = SafeTensorsFile::read(path);
  EXPECT_EQ(f.meta("model_type"), "nhits");
  const float* r = static_cast<const float*>(f.get("layer.weight", DType::f32, {2, 3}));
  EXPECT_EQ(r[5], 6.0f);
  EXPECT_EQ(static_cast<const std::int8_t*>(f.get("layer.q", DType::i8, {3}))[2], 7);
  expect_error([&] { f.get("layer.weight", DType::f32, {3, 2}); }, {"expected f32 (3, 2)"});
  expect_error([&] { f.get("nope", DType::f32, {1}); }, {"tensor 'nope' is missing"});
  expect_error([&] { f.meta("uuid"); }, {"metadata 'uuid' is missing"});
  std::remove(path.c_str());
}

TEST(SafeTensors, TruncatedOrCorruptedFilesAreClearErrors) {
  const std::string path = tmp_path("bad.safetensors");
  const float w[64] = {};
  SafeTensorsWriter wr;
  wr.add("w", DType::f32, {64}, w);
  wr.write(path);
  const std::string good = read_file(path);
  // Every truncation is an error, never a crash.
  for (std::size_t cut = 0; cut < good.size(); cut += 7)
    EXPECT_THROW(SafeTensorsFile::parse(good.substr(0, cut), "cut.safetensors"), Error) << cut;
  expect_error([&] { SafeTensorsFile::parse(good.substr(0, good.size() - 4), "t.st"); }, {"truncated"});
  std::string bad = good;
  bad[8] = '#';  // break the JSON
  expect_error([&] { SafeTensorsFile::parse(bad, "j.st"); }, {"not valid JSON"});
  bad = good;
  bad[7] = char(0x7f);  // absurd header size
  expect_error([&] { SafeTensorsFile::parse(bad, "h.st"); }, {"header of"});
  expect_error([&] { SafeTensorsFile::parse("hello", "tiny.st"); }, {"too short"});
  expect_error([&] { SafeTensorsFile::read("/nonexistent/model.ntn"); }, {"cannot open"});
  std::remove(path.c_str());
}

TEST(SafeTensors, AtomicWriteKeepsThePreviousFileOnFailure) {
  const std::string path = tmp_path("atomic.bin");
  write_file_atomic(path, "first");
  EXPECT_EQ(read_file(path), "first");
  write_file_atomic(path, "second");
  EXPECT_EQ(read_file(path), "second");
  // A directory that does not exist: the write fails and nothing is half-written anywhere.
  EXPECT_THROW(write_file_atomic("/nonexistent-dir/x.bin", "data"), Error);
  std::remove(path.c_str());
}

}  // namespace
}  // namespace ntn
