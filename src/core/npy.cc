// .npy header parsing/printing and tensor (de)serialisation; the .npz container lives in npz.cc.
#include "core/npy.h"

#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

namespace kiln {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicLen = 6;

struct NpyTypeName {
  char kind;  // 'f', 'i', 'u', 'b'
  int size;
  DType dtype;
};
constexpr NpyTypeName kNpyTypes[] = {
    {'f', 2, DType::kFloat16}, {'f', 4, DType::kFloat32}, {'f', 8, DType::kFloat64}, {'i', 1, DType::kInt8},
    {'u', 1, DType::kUint8},   {'i', 2, DType::kInt16},   {'u', 2, DType::kUint16},  {'i', 4, DType::kInt32},
    {'u', 4, DType::kUint32},  {'i', 8, DType::kInt64},   {'u', 8, DType::kUint64},  {'b', 1, DType::kBool},
};

// The header is a Python dict literal such as {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }.
// This parser accepts exactly the value kinds NumPy writes there: strings, booleans and integer tuples.
struct HeaderValue {
  enum Kind { kString, kBool, kTuple } kind = kString;
  std::string s;
  bool b = false;
  std::vector<int64_t> ints;
};

class HeaderParser {
 public:
  HeaderParser(const std::string& text, const std::string& what) : t_(text), what_(what) {}

  Expected<std::map<std::string, HeaderValue>> parse() {
    std::map<std::string, HeaderValue> out;
    skip_space();
    if (!eat('{')) return bad("the header does not start with '{'");
    while (true) {
      skip_space();
      if (eat('}')) break;
      KILN_ASSIGN_OR_RETURN(std::string key, parse_string());
      skip_space();
      if (!eat(':')) return bad("expected ':' after key '" + key + "'");
      KILN_ASSIGN_OR_RETURN(HeaderValue v, parse_value());
      out[key] = std::move(v);
      skip_space();
      if (eat(',')) continue;
      skip_space();
      if (eat('}')) break;
      return bad("expected ',' or '}' after the value of '" + key + "'");
    }
    return out;
  }

 private:
  Status bad(const std::string& m) const {
    return invalid_input(what_ + ": malformed .npy header (" + m + " at offset " + std::to_string(p_) + ")");
  }
  void skip_space() {
    while (p_ < t_.size() && std::isspace(static_cast<unsigned char>(t_[p_]))) ++p_;
  }
  bool eat(char c) {
    if (p_ < t_.size() && t_[p_] == c) {
      ++p_;
      return true;
    }
    return false;
  }
  bool eat_word(const char* w) {
    size_t n = std::strlen(w);
    if (t_.compare(p_, n, w) != 0) return false;
    p_ += n;
    return true;
  }
  Expected<std::string> parse_string() {
    if (p_ >= t_.size() || (t_[p_] != '\'' && t_[p_] != '"')) return bad("expected a quoted string");
    char q = t_[p_++];
    size_t end = t_.find(q, p_);
    if (end == std::string::npos) return bad("unterminated string");
    std::string s = t_.substr(p_, end - p_);
    p_ = end + 1;
    return s;
  }
  Expected<HeaderValue> parse_value() {
    skip_space();
    HeaderValue v;
    if (eat_word("True") || eat_word("False")) {
      v.kind = HeaderValue::kBool;
      v.b = t_[p_ - 2] == 'u';  // "True" ends in "ue", "False" in "se"
      return v;
    }
    if (eat('(')) {
      v.kind = HeaderValue::kTuple;
      while (true) {
        skip_space();
        if (eat(')')) return v;
        size_t start = p_;
        while (p_ < t_.size() && std::isdigit(static_cast<unsigned char>(t_[p_]))) ++p_;
        if (p_ == start) return bad("expected a non-negative integer in the shape");
        if (p_ - start > 15) return bad("a dimension has too many digits");
        v.ints.push_back(std::stoll(t_.substr(start, p_ - start)));
        skip_space();
        if (p_ < t_.size() && t_[p_] == 'L') ++p_;  // Python 2 long suffix
        skip_space();
        if (eat(',')) continue;
        skip_space();
        if (eat(')')) return v;
        return bad("expected ',' or ')' in the shape");
      }
    }
    KILN_ASSIGN_OR_RETURN(v.s, parse_string());
    v.kind = HeaderValue::kString;
    return v;
  }

  const std::string& t_;
  const std::string& what_;
  size_t p_ = 0;
};

uint32_t load_le(const uint8_t* p, int bytes) {
  uint32_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

Expected<DType> parse_descr(const std::string& descr, const std::string& what) {
  auto bad = [&](const std::string& why) {
    return unsupported(what + ": .npy dtype '" + descr + "' is not supported (" + why +
                       "); kiln reads f2 f4 f8 i1 u1 i2 u2 i4 u4 i8 u8 b1");
  };
  if (descr.size() < 3) return bad("unknown dtype");
  char order = descr[0];
  char kind = descr[1];
  int size = 0;
  for (size_t i = 2; i < descr.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(descr[i])) || i > 4) return bad("unknown dtype");
    size = size * 10 + (descr[i] - '0');
  }
  if (order != '<' && order != '|' && order != '=' && order != '>') return bad("unknown byte order");
  // '=' is native order; kiln runs on little-endian hosts only.
  if (order == '>' && size > 1)
    return bad("big-endian data; save it little-endian (arr.astype('<" + descr.substr(1) + "'))");
  for (const auto& t : kNpyTypes)
    if (t.kind == kind && t.size == size) return t.dtype;
  return bad("unknown dtype");
}

std::string descr_of(DType d) {
  for (const auto& t : kNpyTypes) {
    if (t.dtype != d) continue;
    std::string s(1, t.size == 1 ? '|' : '<');
    return s + t.kind + std::to_string(t.size);
  }
  return "";
}

}  // namespace

Expected<Tensor> npy_decode(const void* data, size_t size, const std::string& what) {
  const auto* b = static_cast<const uint8_t*>(data);
  if (size < kMagicLen + 2 || std::memcmp(b, kMagic, kMagicLen) != 0)
    return invalid_input(what + ": not a .npy file (missing the \\x93NUMPY magic)");
  const int major = b[6];
  if (major < 1 || major > 3)
    return unsupported(what + ": .npy format version " + std::to_string(major) + "." + std::to_string(b[7]) +
                       " is not supported (kiln reads versions 1 to 3)");
  const size_t len_bytes = major == 1 ? 2 : 4;
  const size_t prefix = kMagicLen + 2 + len_bytes;
  if (size < prefix) return invalid_input(what + ": truncated .npy header");
  const size_t header_len = load_le(b + kMagicLen + 2, static_cast<int>(len_bytes));
  if (header_len > size - prefix)
    return invalid_input(what + ": truncated .npy file (header says " + std::to_string(header_len) +
                         " header bytes, the file has " + std::to_string(size - prefix) + " after the prefix)");
  const std::string header(reinterpret_cast<const char*>(b + prefix), header_len);
  KILN_ASSIGN_OR_RETURN(auto dict, HeaderParser(header, what).parse());

  auto d = dict.find("descr");
  auto f = dict.find("fortran_order");
  auto s = dict.find("shape");
  if (d == dict.end() || d->second.kind != HeaderValue::kString)
    return invalid_input(what + ": .npy header has no 'descr' string");
  if (f == dict.end() || f->second.kind != HeaderValue::kBool)
    return invalid_input(what + ": .npy header has no 'fortran_order' boolean");
  if (s == dict.end() || s->second.kind != HeaderValue::kTuple)
    return invalid_input(what + ": .npy header has no 'shape' tuple");
  KILN_ASSIGN_OR_RETURN(DType dtype, parse_descr(d->second.s, what));
  const Shape shape = s->second.ints;
  auto n = checked_numel(shape);
  if (!n) return invalid_input(what + ": .npy shape " + shape_to_string(shape) + " overflows");
  if (f->second.b && shape.size() > 1)
    return unsupported(what + ": Fortran-order .npy arrays are not supported; save with np.ascontiguousarray(a)");

  const size_t payload = size - prefix - header_len;
  const size_t esize = dtype_size(dtype);
  // Compare in element units first so a huge declared shape cannot overflow the byte count.
  if (static_cast<uint64_t>(*n) > payload / esize)
    return invalid_input(what + ": truncated .npy file: " + dtype_name(dtype) + "[" + shape_to_string(shape) +
                         "] needs " + std::to_string(*n) + " elements but only " + std::to_string(payload) +
                         " data bytes follow the header");
  if (payload != static_cast<size_t>(*n) * esize)
    return invalid_input(what + ": .npy data is " + std::to_string(payload) + " bytes but " + dtype_name(dtype) + "[" +
                         shape_to_string(shape) + "] needs " + std::to_string(static_cast<size_t>(*n) * esize));
  auto t = Tensor::from_bytes(dtype, shape, b + prefix + header_len, payload);
  if (!t.ok()) return t.status().with_context(what + ": ");
  if (dtype == DType::kBool) {  // kiln's bool is 0/1; NumPy files could hold other nonzero bytes
    auto* p = t->data<uint8_t>();
    for (int64_t i = 0; i < t->numel(); ++i) p[i] = p[i] ? 1 : 0;
  }
  return t;
}

Expected<std::string> npy_encode(const Tensor& t) {
  const std::string descr = descr_of(t.dtype());
  if (descr.empty())
    return unsupported(std::string("dtype ") + dtype_name(t.dtype()) +
                       " has no .npy equivalent; convert it (e.g. to float32) first");
  std::string shape = "(";
  for (size_t i = 0; i < t.shape().size(); ++i) shape += (i ? ", " : "") + std::to_string(t.shape()[i]);
  shape += t.shape().size() == 1 ? ",)" : ")";  // a 1-tuple needs its comma in Python syntax
  std::string dict = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  // NumPy pads the whole header (prefix + dict + '\n') to a multiple of 64 bytes.
  size_t len_bytes = 2;
  int major = 1;
  size_t total = kMagicLen + 2 + len_bytes + dict.size() + 1;
  if (total + 64 > 65535) {
    len_bytes = 4;
    major = 2;
    total = kMagicLen + 2 + len_bytes + dict.size() + 1;
  }
  dict.append((64 - total % 64) % 64, ' ');
  dict += '\n';
  std::string out(kMagic, kMagicLen);
  out += static_cast<char>(major);
  out += '\0';
  const size_t hl = dict.size();
  for (size_t i = 0; i < len_bytes; ++i) out += static_cast<char>((hl >> (8 * i)) & 0xff);
  out += dict;
  out.append(static_cast<const char*>(t.raw()), t.nbytes());
  return out;
}

Expected<std::string> read_file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return invalid_input(path + ": cannot open file (" + std::strerror(errno) + ")");
  in.seekg(0, std::ios::end);
  std::streamoff len = in.tellg();
  if (len < 0) return invalid_input(path + ": cannot read file (is it a directory?)");
  if (static_cast<uint64_t>(len) > max_tensor_bytes() + (size_t{1} << 30))
    return invalid_input(path + ": file is too large (" + std::to_string(len >> 20) + " MiB)");
  std::string bytes(static_cast<size_t>(len), '\0');
  in.seekg(0);
  if (len > 0 && !in.read(&bytes[0], len)) return invalid_input(path + ": read error");
  return bytes;
}

Status write_file_atomic(const std::string& path, const std::string& bytes) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return invalid_input(path + ": cannot create file (" + std::strerror(errno) + ")");
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    if (!out) {
      std::remove(tmp.c_str());
      return runtime_error(path + ": write failed (disk full?)");
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string err = std::strerror(errno);
    std::remove(tmp.c_str());
    return runtime_error(path + ": cannot rename the temporary file into place (" + err + ")");
  }
  return Status::Ok();
}

Expected<Tensor> read_npy(const std::string& path) {
  KILN_ASSIGN_OR_RETURN(std::string bytes, read_file_bytes(path));
  return npy_decode(bytes.data(), bytes.size(), path);
}

Status write_npy(const std::string& path, const Tensor& t) {
  auto bytes = npy_encode(t);
  if (!bytes.ok()) return bytes.status().with_context(path + ": ");
  return write_file_atomic(path, *bytes);
}

}  // namespace kiln
