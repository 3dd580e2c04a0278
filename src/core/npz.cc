// .npz archives: a minimal zip reader (stored and deflated members, zip64 sizes) and a stored-only writer.
#include <zlib.h>

#include <cstring>

#include "core/npy.h"

namespace kiln {
namespace {

constexpr uint32_t kLocalSig = 0x04034b50;
constexpr uint32_t kCentralSig = 0x02014b50;
constexpr uint32_t kEndSig = 0x06054b50;
constexpr uint32_t kEnd64LocatorSig = 0x07064b50;
constexpr uint32_t kEnd64Sig = 0x06064b50;

uint64_t load_le(const uint8_t* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
void put_le(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}

struct Member {
  std::string name;
  uint16_t method = 0;
  uint32_t crc = 0;
  uint64_t compressed = 0;
  uint64_t uncompressed = 0;
  uint64_t local_offset = 0;
};

// Reads the zip64 extra field (id 1) of a central directory entry: values replace the 0xFFFFFFFF fields,
// in the order uncompressed, compressed, offset.
void apply_zip64_extra(const uint8_t* extra, size_t len, Member& m) {
  size_t p = 0;
  while (p + 4 <= len) {
    const uint16_t id = static_cast<uint16_t>(load_le(extra + p, 2));
    const uint16_t sz = static_cast<uint16_t>(load_le(extra + p + 2, 2));
    if (p + 4 + sz > len) return;
    if (id == 1) {
      size_t q = p + 4;
      auto take = [&](uint64_t& field) {
        if (field == 0xffffffffu && q + 8 <= p + 4 + sz) {
          field = load_le(extra + q, 8);
          q += 8;
        }
      };
      take(m.uncompressed);
      take(m.compressed);
      take(m.local_offset);
      return;
    }
    p += 4 + sz;
  }
}

Status inflate_raw(const uint8_t* src, size_t n, std::string& out, const std::string& where) {
  z_stream zs;
  std::memset(&zs, 0, sizeof(zs));
  if (inflateInit2(&zs, -MAX_WBITS) != Z_OK) return runtime_error(where + ": zlib initialisation failed");
  zs.next_in = const_cast<Bytef*>(src);
  zs.avail_in = static_cast<uInt>(n);
  zs.next_out = reinterpret_cast<Bytef*>(&out[0]);
  zs.avail_out = static_cast<uInt>(out.size());
  const int rc = inflate(&zs, Z_FINISH);
  const size_t produced = zs.total_out;
  const std::string msg = zs.msg ? zs.msg : "code " + std::to_string(rc);
  inflateEnd(&zs);
  if (rc != Z_STREAM_END || produced != out.size())
    return invalid_input(where + ": corrupt deflate data (zlib: " + msg + ")");
  return Status::Ok();
}

}  // namespace

Expected<NamedTensors> npz_decode(const void* data, size_t size, const std::string& what) {
  const auto* b = static_cast<const uint8_t*>(data);
  auto bad = [&](const std::string& m) { return invalid_input(what + ": not a valid .npz (zip) file: " + m); };
  if (size < 22) return bad("too short");
  // The end-of-central-directory record sits in the last 22 + 65535 (comment) bytes.
  size_t end = std::string::npos;
  for (size_t p = size - 22 + 1; p-- > 0 && size - p <= 22 + 65535;) {
    if (load_le(b + p, 4) == kEndSig) {
      end = p;
      break;
    }
  }
  if (end == std::string::npos) return bad("no end-of-central-directory record");
  uint64_t count = load_le(b + end + 10, 2);
  uint64_t cd_size = load_le(b + end + 12, 4);
  uint64_t cd_offset = load_le(b + end + 16, 4);
  if ((count == 0xffff || cd_offset == 0xffffffffu) && end >= 20 && load_le(b + end - 20, 4) == kEnd64LocatorSig) {
    const uint64_t e64 = load_le(b + end - 20 + 8, 8);
    if (e64 > size - 56 || load_le(b + e64, 4) != kEnd64Sig) return bad("bad zip64 end record");
    count = load_le(b + e64 + 32, 8);
    cd_size = load_le(b + e64 + 40, 8);
    cd_offset = load_le(b + e64 + 48, 8);
  }
  if (cd_offset > size || cd_size > size - cd_offset) return bad("central directory lies outside the file");
  if (count > cd_size / 46) return bad("central directory entry count is inconsistent");

  NamedTensors out;
  size_t p = cd_offset;
  for (uint64_t i = 0; i < count; ++i) {
    if (p + 46 > cd_offset + cd_size || load_le(b + p, 4) != kCentralSig) return bad("corrupt central directory");
    Member m;
    const uint16_t flags = static_cast<uint16_t>(load_le(b + p + 8, 2));
    m.method = static_cast<uint16_t>(load_le(b + p + 10, 2));
    m.crc = static_cast<uint32_t>(load_le(b + p + 16, 4));
    m.compressed = load_le(b + p + 20, 4);
    m.uncompressed = load_le(b + p + 24, 4);
    const size_t name_len = load_le(b + p + 28, 2);
    const size_t extra_len = load_le(b + p + 30, 2);
    const size_t comment_len = load_le(b + p + 32, 2);
    m.local_offset = load_le(b + p + 42, 4);
    if (p + 46 + name_len + extra_len + comment_len > cd_offset + cd_size) return bad("corrupt central directory");
    m.name.assign(reinterpret_cast<const char*>(b + p + 46), name_len);
    apply_zip64_extra(b + p + 46 + name_len, extra_len, m);
    p += 46 + name_len + extra_len + comment_len;

    const std::string where = what + ": member '" + m.name + "'";
    if (flags & 1) return unsupported(where + " is encrypted");
    if (m.method != 0 && m.method != 8)
      return unsupported(where + " uses zip compression method " + std::to_string(m.method) +
                         " (kiln reads stored and deflate members)");
    if (m.local_offset > size - 30 || load_le(b + m.local_offset, 4) != kLocalSig)
      return bad("member '" + m.name + "' has no local header");
    const size_t data_start =
        m.local_offset + 30 + load_le(b + m.local_offset + 26, 2) + load_le(b + m.local_offset + 28, 2);
    if (data_start > size || m.compressed > size - data_start) return bad("member '" + m.name + "' is truncated");
    if (m.uncompressed > max_tensor_bytes() + (1 << 20))
      return invalid_input(where + " declares " + std::to_string(m.uncompressed >> 20) + " MiB, over the tensor limit");
    if (m.method == 0 && m.compressed != m.uncompressed)
      return bad("member '" + m.name + "' is stored but its sizes disagree");

    std::string bytes;
    if (m.method == 0) {
      bytes.assign(reinterpret_cast<const char*>(b + data_start), m.compressed);
    } else {
      bytes.assign(m.uncompressed, '\0');
      KILN_RETURN_IF_ERROR(inflate_raw(b + data_start, m.compressed, bytes, where));
    }
    const uint32_t crc =
        static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(bytes.size())));
    if (crc != m.crc) return invalid_input(where + ": CRC mismatch (the archive is corrupt)");
    if (!m.name.empty() && m.name.back() == '/') continue;  // a directory entry
    KILN_ASSIGN_OR_RETURN(Tensor t, npy_decode(bytes.data(), bytes.size(), where));
    std::string name = m.name;
    if (name.size() > 4 && name.compare(name.size() - 4, 4, ".npy") == 0) name.resize(name.size() - 4);
    out.emplace_back(std::move(name), std::move(t));
  }
  return out;
}

Expected<std::string> npz_encode(const NamedTensors& tensors) {
  std::string out, central;
  for (const auto& [name, tensor] : tensors) {
    auto npy = npy_encode(tensor);
    if (!npy.ok()) return npy.status().with_context("'" + name + "': ");
    const std::string member = name + ".npy";
    if (npy->size() >= 0xffffffffu || out.size() >= 0xffffffffu || member.size() > 0xffff)
      return unsupported("'" + name + "': .npz members over 4 GiB are not supported by kiln's writer");
    const uint32_t crc =
        static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(npy->data()), static_cast<uInt>(npy->size())));
    const uint64_t offset = out.size();
    // Fixed date/time (1980-01-01 00:00) keeps archives byte-identical across runs.
    auto common = [&](std::string& h) {
      put_le(h, 20, 2);                       // version needed: 2.0
      put_le(h, 0, 2);                        // flags
      put_le(h, 0, 2);                        // method: stored
      put_le(h, 0, 2);                        // time
      put_le(h, (0 << 9) | (1 << 5) | 1, 2);  // date
      put_le(h, crc, 4);
      put_le(h, npy->size(), 4);
      put_le(h, npy->size(), 4);
      put_le(h, member.size(), 2);
      put_le(h, 0, 2);  // extra length
    };
    put_le(out, kLocalSig, 4);
    common(out);
    out += member;
    out += *npy;

    put_le(central, kCentralSig, 4);
    put_le(central, 20, 2);  // version made by
    common(central);
    put_le(central, 0, 2);  // comment length
    put_le(central, 0, 2);  // disk number
    put_le(central, 0, 2);  // internal attributes
    put_le(central, 0, 4);  // external attributes
    put_le(central, offset, 4);
    central += member;
  }
  if (tensors.size() >= 0xffff || out.size() >= 0xffffffffu)
    return unsupported(".npz archives over 4 GiB or 65535 members are not supported by kiln's writer");
  const uint64_t cd_offset = out.size();
  out += central;
  put_le(out, kEndSig, 4);
  put_le(out, 0, 2);
  put_le(out, 0, 2);
  put_le(out, tensors.size(), 2);
  put_le(out, tensors.size(), 2);
  put_le(out, central.size(), 4);
  put_le(out, cd_offset, 4);
  put_le(out, 0, 2);  // comment length
  return out;
}

Expected<NamedTensors> read_npz(const std::string& path) {
  KILN_ASSIGN_OR_RETURN(std::string bytes, read_file_bytes(path));
  return npz_decode(bytes.data(), bytes.size(), path);
}

Status write_npz(const std::string& path, const NamedTensors& tensors) {
  auto bytes = npz_encode(tensors);
  if (!bytes.ok()) return bytes.status().with_context(path + ": ");
  return write_file_atomic(path, *bytes);
}

}  // namespace kiln
