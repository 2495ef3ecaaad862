// The safetensors file layout (used for model artifacts and training checkpoints):
//   u64 little-endian N | N bytes of JSON header | raw tensor bytes
// The header maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end)} (offsets
// relative to the end of the header) and "__metadata__" to a string -> string map. Python's
// `safetensors` package reads these files.
// Files are written atomically: to "<path>.tmp.<pid>", flushed, then renamed over <path>, so a
// crash never leaves a half-written file where the previous one was.
// Reading validates everything (header size, JSON, dtypes, shapes against offsets, offsets
// within the file, no overlap) and reports a one-line ntn::Error naming the file.
//
// Intended usage:
//   ntn::SafeTensorsWriter w;
//   w.add("stacks.0.blocks.0.mlp.0.weight", ntn::DType::f32, {512, 84}, ptr);
//   w.metadata["model_type"] = "nhits";
//   w.write("model.ntn");
//   ntn::SafeTensorsFile f = ntn::SafeTensorsFile::read("model.ntn");
//   const float* wts = f.get("stacks.0.blocks.0.mlp.0.weight", ntn::DType::f32, {512, 84});
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ntn/tensor.h"

namespace ntn {

class SafeTensorsWriter {
 public:
  std::map<std::string, std::string> metadata;
  // Copies the bytes now (the caller may reuse its buffer).
  void add(const std::string& name, DType dtype, const Shape& shape, const void* data);
  void write(const std::string& path) const;  // write_file_atomic(path, bytes())
  std::string bytes() const;                  // the whole file, checksummed

 private:
  struct Item {
    std::string name;
    DType dtype;
    Shape shape;
    std::vector<std::uint8_t> bytes;
  };
  std::vector<Item> items_;
};

class SafeTensorsFile {
 public:
  struct Info {
    DType dtype;
    Shape shape;
    std::size_t begin, end;  // byte offsets in the data section
  };
  static SafeTensorsFile read(const std::string& path);
  static SafeTensorsFile parse(std::string bytes, const std::string& source);

  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::string& meta(const std::string& key) const;  // throws naming the file and key
  bool has(const std::string& name) const { return infos_.count(name) != 0; }
  // True when the file carries an ntn_checksum (every file SafeTensorsWriter writes) and it
  // matched; a mismatch is an error at read time.
  bool checksummed() const { return checksummed_; }
  const std::map<std::string, Info>& tensors() const { return infos_; }
  // Pointer to the tensor's bytes; throws if absent or if dtype / shape differ from expected.
  // The bytes need not be aligned (safetensors does not align tensors: an odd-sized int8 tensor
  // shifts the next one, and a foreign header can have any length): read them with memcpy, or
  // through get_f32.
  const void* get(const std::string& name, DType dtype, const Shape& shape) const;
  // An f32 tensor as floats: the file's bytes when they are 4-byte aligned, else an aligned copy
  // kept in tmp.
  const float* get_f32(const std::string& name, const Shape& shape, std::vector<float>& tmp) const;
  const std::string& source() const { return source_; }

 private:
  static SafeTensorsFile parse_bytes(std::shared_ptr<const char> keep, std::size_t size, const std::string& src);
  std::string source_;
  std::shared_ptr<const char> bytes_;  // the whole file (a read-only mapping or an owned string)
  std::size_t data_start_ = 0;
  std::map<std::string, std::string> metadata_;
  bool checksummed_ = false;
  std::map<std::string, Info> infos_;
};

// Writes `bytes` to path atomically (temp file + fsync + rename); throws naming the path.
// Only a regular file (or nothing) is ever replaced: a symlink, FIFO, device or directory at
// path is an error, never renamed over. Temporary files "<path>.tmp.<pid>" left by a writer
// that was killed (its pid no longer runs) are removed first; the new one is created with
// O_EXCL | O_NOFOLLOW, and removed on every error path.
void write_file_atomic(const std::string& path, const std::string& bytes);

// Before any work: the output of `option` may be replaced (nothing there, or a regular file)
// and is not the same file as any of the inputs (pairs of option name and path; empty paths
// are skipped). Throws naming both options and paths.
void check_output_path(const char* option, const std::string& path,
                       const std::vector<std::pair<const char*, std::string>>& inputs);

}  // namespace ntn
