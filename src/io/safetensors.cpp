#include "ntn/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define XXH_INLINE_ALL  // header-only use of Debian's libxxhash-dev: nothing to link
#include <xxhash.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <filesystem>
#include <cstdio>
#include <cstring>

#include "ntn/csv.h"
#include "ntn/error.h"
#include "ntn/fields.h"

namespace ntn {
namespace {

const char* st_dtype(DType d) {
  switch (d) {
    case DType::f32: return "F32";
    case DType::f16: return "F16";
    case DType::bf16: return "BF16";
    case DType::i8: return "I8";
  }
  return "?";
}

bool parse_st_dtype(const std::string& s, DType* d) {
  if (s == "F32") *d = DType::f32;
  else if (s == "F16") *d = DType::f16;
  else if (s == "BF16") *d = DType::bf16;
  else if (s == "I8") *d = DType::i8;
  else return false;
  return true;
}

// Integrity: every file we write carries metadata ntn_checksum = "xxh3-64:<16 hex digits>", the
// XXH3-64 of the header (with those 16 digits as '0') seeded into the XXH3-64 of the data
// section. So a changed byte anywhere - tensors, shapes, offsets, model config, scaler - is an
// error at load, not a silently different forecast. (~0.3 ms for a 5 MB model.)
constexpr std::string_view kChecksumKey = "\"ntn_checksum\":\"xxh3-64:";
constexpr std::size_t kChecksumDigits = 16;

std::uint64_t checksum(std::string_view header_zeroed, const char* data, std::size_t n) {
  return XXH3_64bits_withSeed(data, n, XXH3_64bits(header_zeroed.data(), header_zeroed.size()));
}

std::string hex16(std::uint64_t v) {
  static const char* d = "0123456789abcdef";
  std::string s(kChecksumDigits, '0');
  for (std::size_t i = 0; i < kChecksumDigits; ++i) s[kChecksumDigits - 1 - i] = d[(v >> (4 * i)) & 15];
  return s;
}

}  // namespace

namespace {

const char* file_kind(mode_t m) {
  if (S_ISLNK(m)) return "a symbolic link";
  if (S_ISFIFO(m)) return "a FIFO";
  if (S_ISCHR(m)) return "a character device";
  if (S_ISBLK(m)) return "a block device";
  if (S_ISDIR(m)) return "a directory";
  if (S_ISSOCK(m)) return "a socket";
  return "not a regular file";
}

// Only "nothing there" or a regular file may be replaced by a rename.
void check_replaceable(const char* option, const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return;  // nothing there (or unreadable: the write will say)
  NTN_CHECK(S_ISREG(st.st_mode), option, option[0] ? " " : "", "'", path, "' is ", file_kind(st.st_mode),
            "; ntneural replaces only regular files - give a regular file path",
            S_ISLNK(st.st_mode) ? " (the link's target, if that is what you mean)" : "");
}

// Removes "<path>.tmp.<pid>" files whose writer is gone (killed mid-save).
void remove_stale_temporaries(const std::string& path) {
  const std::filesystem::path p(path);
  const std::filesystem::path dir = p.has_parent_path() ? p.parent_path() : std::filesystem::path(".");
  const std::string prefix = p.filename().string() + ".tmp.";
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string pid_text = name.substr(prefix.size());
    if (pid_text.find_first_not_of("0123456789") != std::string::npos || pid_text.size() > 9) continue;
    const pid_t pid = pid_t(std::stol(pid_text));
    if (pid == ::getpid() || ::kill(pid, 0) == 0 || errno != ESRCH) continue;  // its writer still runs
    struct stat st {};
    if (::lstat(e.path().c_str(), &st) == 0 && S_ISREG(st.st_mode)) std::filesystem::remove(e.path(), ec);
  }
}

}  // namespace

void check_output_path(const char* option, const std::string& path,
                       const std::vector<std::pair<const char*, std::string>>& inputs) {
  NTN_CHECK(!path.empty(), option, ": empty path");
  check_replaceable(option, path);
  struct stat out {};
  const bool exists = ::stat(path.c_str(), &out) == 0;
  std::error_code ec;
  const auto canon = std::filesystem::weakly_canonical(path, ec);
  for (const auto& [name, in] : inputs) {
    if (in.empty()) continue;
    struct stat st {};
    bool same = exists && ::stat(in.c_str(), &st) == 0 && st.st_dev == out.st_dev && st.st_ino == out.st_ino;
    std::error_code ec2;
    same = same || (!ec && std::filesystem::weakly_canonical(in, ec2) == canon && !ec2);  // not there yet
    NTN_CHECK(!same, option, " '", path, "' is the same file as ", name, " '", in,
              "': writing it would destroy the other; choose another path");
  }
}

void write_file_atomic(const std::string& path, const std::string& bytes) {
  check_replaceable("", path);
  remove_stale_temporaries(path);
  const std::string tmp = cat(path, ".tmp.", ::getpid());
  ::unlink(tmp.c_str());  // ours from an earlier failed call in this process, if any
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  NTN_CHECK(fd >= 0, "cannot create '", tmp, "': ", std::strerror(errno));
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t w = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      const int err = w < 0 ? errno : ENOSPC;
      ::close(fd);
      ::unlink(tmp.c_str());
      throw Error(cat("cannot write '", path, "' (via '", tmp, "'): ", std::strerror(err)));
    }
    done += std::size_t(w);
  }
  if (::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    throw Error(cat("cannot flush '", tmp, "': ", std::strerror(err)));
  }
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw Error(cat("cannot flush '", tmp, "': ", std::strerror(err)));
  }
  check_replaceable("", path);  // again right before the rename: nothing special appeared meanwhile
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw Error(cat("cannot rename '", tmp, "' to '", path, "': ", std::strerror(err)));
  }
}

void SafeTensorsWriter::add(const std::string& name, DType dtype, const Shape& shape, const void* data) {
  NTN_CHECK(name != "__metadata__" && !name.empty(), "invalid tensor name '", name, "'");
  for (const Item& it : items_) NTN_CHECK(it.name != name, "tensor '", name, "' added twice");
  const std::size_t n = std::size_t(shape.numel()) * dtype_size(dtype);
  const auto* p = static_cast<const std::uint8_t*>(data);
  items_.push_back({name, dtype, shape, std::vector<std::uint8_t>(p, p + n)});
}

void SafeTensorsWriter::write(const std::string& path) const { write_file_atomic(path, bytes()); }

std::string SafeTensorsWriter::bytes() const {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::size_t off = 0;
  for (const Item& it : items_) {
    std::vector<std::int64_t> shape(it.shape.data(), it.shape.data() + it.shape.rank());
    header[it.name] = {{"dtype", st_dtype(it.dtype)}, {"shape", shape}, {"data_offsets", {off, off + it.bytes.size()}}};
    off += it.bytes.size();
  }
  header["__metadata__"]["ntn_checksum"] = "xxh3-64:" + std::string(kChecksumDigits, '0');
  std::string h = header.dump();
  h.append((8 - h.size() % 8) % 8, ' ');  // the data section starts 8-byte aligned
  std::string out(8, '\0');
  const std::uint64_t n = h.size();
  for (int i = 0; i < 8; ++i) out[std::size_t(i)] = char((n >> (8 * i)) & 0xff);
  out += h;
  out.reserve(out.size() + off);
  for (const Item& it : items_) out.append(reinterpret_cast<const char*>(it.bytes.data()), it.bytes.size());
  const std::size_t at = out.find(kChecksumKey, 8) + kChecksumKey.size();
  const std::uint64_t sum = checksum(std::string_view(out).substr(8, h.size()), out.data() + 8 + h.size(),
                                     out.size() - 8 - h.size());
  out.replace(at, kChecksumDigits, hex16(sum));
  return out;
}

// Files are mapped read-only with MAP_POPULATE: the kernel maps the page-cache pages in one
// go instead of one fault (or one copy into a fresh buffer) per 4 KiB page - on a VM that was
// ~3 ms of a 5 MB model's load time.
SafeTensorsFile SafeTensorsFile::read(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  NTN_CHECK(fd >= 0, "cannot open '", path, "': ", std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0) {  // pipes, empty files: plain read
    ::close(fd);
    return parse(read_file(path), path);
  }
  const std::size_t size = std::size_t(st.st_size);
  void* m = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
  ::close(fd);
  if (m == MAP_FAILED) return parse(read_file(path), path);
  std::shared_ptr<const char> keep(static_cast<const char*>(m), [size](const char* p) {
    ::munmap(const_cast<char*>(p), size);
  });
  return parse_bytes(std::move(keep), size, path);
}

SafeTensorsFile SafeTensorsFile::parse(std::string bytes, const std::string& src) {
  auto owner = std::make_shared<std::string>(std::move(bytes));
  const std::size_t size = owner->size();
  std::shared_ptr<const char> keep(owner, owner->data());
  return parse_bytes(std::move(keep), size, src);
}

SafeTensorsFile SafeTensorsFile::parse_bytes(std::shared_ptr<const char> keep, std::size_t size,
                                             const std::string& src) {
  const std::string_view bytes(keep.get(), size);
  SafeTensorsFile f;
  f.source_ = src;
  NTN_CHECK(bytes.size() >= 8, src, ": not a model file (", bytes.size(), " bytes; too short for a safetensors header)");
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | std::uint8_t(bytes[std::size_t(i)]);
  NTN_CHECK(n <= bytes.size() - 8, src, ": header of ", n, " bytes but the file has ", bytes.size(),
            " (truncated or not a safetensors file)");
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(bytes.begin() + 8, bytes.begin() + 8 + std::ptrdiff_t(n));
  } catch (const nlohmann::json::exception&) {
    throw Error(cat(src, ": the header is not valid JSON (corrupted file)"));
  }
  NTN_CHECK(header.is_object(), src, ": the header is not a JSON object (corrupted file)");
  f.data_start_ = 8 + std::size_t(n);
  const std::size_t data_size = bytes.size() - f.data_start_;
  std::vector<std::pair<std::size_t, std::size_t>> ranges;
  for (auto& [name, v] : header.items()) {
    if (name == "__metadata__") {
      NTN_CHECK(v.is_object(), src, ": __metadata__ is not an object");
      for (auto& [k, mv] : v.items()) {
        NTN_CHECK(mv.is_string(), src, ": metadata '", k, "' is not a string");
        f.metadata_[k] = mv.get<std::string>();
      }
      continue;
    }
    NTN_CHECK(v.is_object() && v.contains("dtype") && v.contains("shape") && v.contains("data_offsets"), src,
              ": tensor '", name, "' lacks dtype, shape or data_offsets");
    Info info{};
    NTN_CHECK(v["dtype"].is_string() && parse_st_dtype(v["dtype"].get<std::string>(), &info.dtype), src, ": tensor '",
              name, "' has unsupported dtype ", v["dtype"].dump());
    // Integers only (a JSON 1e44 converted to an integer type would be undefined behaviour).
    const std::string ctx = cat(src, ": tensor '", name, "'");
    const auto shape = json_uint_list(v, ctx, "shape", {}, {0, std::uint64_t(1) << 40});
    const auto off = json_uint_list(v, ctx, "data_offsets", {}, {0, std::uint64_t(1) << 50});
    NTN_CHECK(off.size() == 2, ctx, ": data_offsets must have 2 entries");
    const std::vector<std::int64_t> dims(shape.begin(), shape.end());
    info.begin = std::size_t(off[0]);
    info.end = std::size_t(off[1]);
    NTN_CHECK(int(dims.size()) <= kMaxRank, src, ": tensor '", name, "' has rank ", dims.size());
    std::uint64_t numel = 1;
    for (auto d : shape) numel = mul_checked(numel, d, cat(ctx, ": shape"));
    info.shape = Shape(dims.data(), int(dims.size()));
    NTN_CHECK(info.begin <= info.end && info.end <= data_size, src, ": tensor '", name, "' bytes [", info.begin, ", ",
              info.end, ") lie outside the ", data_size, "-byte data section (truncated file)");
    NTN_CHECK(info.end - info.begin == std::size_t(info.shape.numel()) * dtype_size(info.dtype), src, ": tensor '",
              name, "' has ", info.end - info.begin, " bytes for shape ", info.shape.str());
    ranges.emplace_back(info.begin, info.end);
    f.infos_[name] = info;
  }
  if (f.metadata_.count("ntn_checksum")) {
    const std::string_view head = bytes.substr(8, n);
    const std::size_t key = head.find(kChecksumKey);
    NTN_CHECK(key != std::string_view::npos && key + kChecksumKey.size() + kChecksumDigits <= head.size(), src,
              ": malformed ntn_checksum (corrupted file)");
    const std::size_t at = key + kChecksumKey.size();
    std::string zeroed(head);
    const std::string stored = zeroed.substr(at, kChecksumDigits);
    zeroed.replace(at, kChecksumDigits, kChecksumDigits, '0');
    const std::string computed = hex16(checksum(zeroed, bytes.data() + f.data_start_, data_size));
#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION  // the fuzzers explore what lies behind the checksum
    NTN_CHECK(stored == computed, src, ": checksum mismatch (stored ", stored, ", computed ", computed,
              "): the file was changed or corrupted after it was written");
#endif
    f.checksummed_ = true;
  }
  std::sort(ranges.begin(), ranges.end());
  for (std::size_t i = 1; i < ranges.size(); ++i)
    NTN_CHECK(ranges[i].first >= ranges[i - 1].second, src, ": tensors overlap in the data section (corrupted file)");
  f.bytes_ = std::move(keep);
  return f;
}

const float* SafeTensorsFile::get_f32(const std::string& name, const Shape& shape, std::vector<float>& tmp) const {
  const void* p = get(name, DType::f32, shape);
  if (reinterpret_cast<std::uintptr_t>(p) % alignof(float) == 0) return static_cast<const float*>(p);
  tmp.resize(std::size_t(shape.numel()));
  std::memcpy(tmp.data(), p, tmp.size() * sizeof(float));
  return tmp.data();
}

const std::string& SafeTensorsFile::meta(const std::string& key) const {
  auto it = metadata_.find(key);
  NTN_CHECK(it != metadata_.end(), source_, ": metadata '", key, "' is missing (not an ntneural file?)");
  return it->second;
}

const void* SafeTensorsFile::get(const std::string& name, DType dtype, const Shape& shape) const {
  auto it = infos_.find(name);
  NTN_CHECK(it != infos_.end(), source_, ": tensor '", name, "' is missing");
  NTN_CHECK(it->second.dtype == dtype && it->second.shape == shape, source_, ": tensor '", name, "' is ",
            dtype_name(it->second.dtype), " ", it->second.shape.str(), ", expected ", dtype_name(dtype), " ",
            shape.str());
  return bytes_.get() + data_start_ + it->second.begin;
}

}  // namespace ntn
