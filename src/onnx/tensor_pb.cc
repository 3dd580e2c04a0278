// TensorProto <-> Tensor (raw_data, typed fields, external data files) and the .pb tensor file API.
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "onnx/importer.h"
#include "onnx/proto_convert.h"

namespace kiln {
namespace onnx_detail {
namespace fs = std::filesystem;

bool parse_proto(const void* data, size_t size, google::protobuf::MessageLite* msg) {
  if (size > kMaxProtoBytes) return false;
  google::protobuf::io::ArrayInputStream raw(data, static_cast<int>(size));
  google::protobuf::io::CodedInputStream in(&raw);
  in.SetTotalBytesLimit(INT_MAX);
  return msg->ParseFromCodedStream(&in) && in.ConsumedEntireMessage();
}

Expected<std::string> read_file_bytes(const std::string& path, size_t max_bytes, const std::string& what) {
  std::error_code ec;
  const auto status = fs::status(path, ec);
  if (ec || !fs::exists(status)) return invalid_input(what + " '" + path + "' does not exist");
  if (!fs::is_regular_file(status)) return invalid_input(what + " '" + path + "' is not a regular file");
  const auto size = fs::file_size(path, ec);
  if (ec) return invalid_input("cannot read " + what + " '" + path + "': " + ec.message());
  if (size > max_bytes)
    return invalid_input(what + " '" + path + "' is " + std::to_string(size) + " bytes, over the " +
                         std::to_string(max_bytes) +
                         "-byte limit (models over 2 GiB must keep weights in "
                         "external data files)");
  std::ifstream f(path, std::ios::binary);
  if (!f) return invalid_input("cannot open " + what + " '" + path + "'");
  std::string bytes(static_cast<size_t>(size), '\0');
  if (size && !f.read(&bytes[0], static_cast<std::streamsize>(size)))
    return invalid_input("cannot read " + what + " '" + path + "' (short read)");
  return bytes;
}

Status write_file_atomic(const std::string& path, const std::string& bytes) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) return runtime_error("cannot create '" + tmp + "' (does the folder exist and is it writable?)");
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    f.flush();
    if (!f) {
      std::remove(tmp.c_str());
      return runtime_error("cannot write '" + tmp + "' (disk full?)");
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return runtime_error("cannot rename '" + tmp + "' to '" + path + "'");
  }
  return Status::Ok();
}

namespace {

// Parses the decimal strings of external_data offset/length.
bool parse_size(const std::string& s, uint64_t* out) {
  if (s.empty() || s.size() > 18) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  *out = v;
  return true;
}

// Resolves `location` inside `base_dir`, refusing anything that could read outside it.
Expected<std::string> resolve_external_path(const std::string& base_dir, const std::string& location,
                                            const std::string& what) {
  if (base_dir.empty())
    return invalid_input(what + " uses external data ('" + location +
                         "') but the model was loaded from memory without a base folder");
  if (location.empty()) return invalid_input(what + " has external data without a 'location'");
  if (location.find('\0') != std::string::npos) return invalid_input(what + ": external data location has a NUL byte");
  const fs::path rel(location);
  if (rel.is_absolute() || rel.has_root_name() || rel.has_root_directory())
    return invalid_input(what + ": external data location '" + location +
                         "' is an absolute path; it must be relative to the model's folder");
  for (const auto& part : rel)
    if (part == "..")
      return invalid_input(what + ": external data location '" + location + "' escapes the model's folder");
  std::error_code ec;
  const fs::path base = fs::weakly_canonical(fs::absolute(base_dir, ec), ec);
  const fs::path full = base / rel;
  if (!fs::exists(full, ec))
    return invalid_input(what + ": external data file '" + location + "' not found in '" + base.string() + "'");
  const fs::path real = fs::canonical(full, ec);
  if (ec) return invalid_input(what + ": cannot resolve external data file '" + full.string() + "': " + ec.message());
  // Symlinks are followed by canonical(): the target must still be inside the model's folder.
  const std::string b = base.string() + "/";
  if (real.string().compare(0, b.size(), b) != 0)
    return invalid_input(what + ": external data location '" + location + "' resolves to '" + real.string() +
                         "', outside the model's folder");
  if (!fs::is_regular_file(real, ec))
    return invalid_input(what + ": external data file '" + location + "' is not a regular file");
  return real.string();
}

Status read_external(const onnx::TensorProto& p, const ExternalDataContext& ext, const std::string& what, size_t nbytes,
                     Tensor* t) {
  std::string location;
  uint64_t offset = 0, length = nbytes;
  bool has_length = false;
  for (const auto& kv : p.external_data()) {
    if (kv.key() == "location") {
      location = kv.value();
    } else if (kv.key() == "offset") {
      if (!parse_size(kv.value(), &offset))
        return invalid_input(what + ": external data offset '" + kv.value() + "' is not a valid byte offset");
    } else if (kv.key() == "length") {
      if (!parse_size(kv.value(), &length))
        return invalid_input(what + ": external data length '" + kv.value() + "' is not a valid byte count");
      has_length = true;
    }
  }
  KILN_ASSIGN_OR_RETURN(std::string path, resolve_external_path(ext.base_dir, location, what));
  if (has_length && length != nbytes)
    return invalid_input(what + ": external data length " + std::to_string(length) + " disagrees with its shape " +
                         t->describe() + " (" + std::to_string(nbytes) + " bytes)");
  std::error_code ec;
  const uint64_t file_size = fs::file_size(path, ec);
  if (ec) return invalid_input(what + ": cannot stat external data file '" + path + "'");
  if (offset > file_size || file_size - offset < nbytes)
    return invalid_input(what + ": external data file '" + location + "' is " + std::to_string(file_size) +
                         " bytes, too short for " + std::to_string(nbytes) + " bytes at offset " +
                         std::to_string(offset));
  std::ifstream f(path, std::ios::binary);
  if (!f) return invalid_input(what + ": cannot open external data file '" + path + "'");
  f.seekg(static_cast<std::streamoff>(offset));
  if (nbytes && !f.read(static_cast<char*>(t->raw()), static_cast<std::streamsize>(nbytes)))
    return invalid_input(what + ": short read from external data file '" + path + "'");
  return Status::Ok();
}

Status count_mismatch(const std::string& what, const char* field, int64_t have, const Tensor& t) {
  return invalid_input(what + " has " + std::to_string(have) + " values in " + field + " but its shape " +
                       t.describe() + " needs " + std::to_string(t.numel()));
}

// Typed fields: each dtype is stored in exactly one repeated field (onnx.proto's TensorProto comments).
Status read_typed(const onnx::TensorProto& p, const std::string& what, Tensor* t) {
  const int64_t n = t->numel();
  void* dst = t->raw();
  switch (t->dtype()) {
    case DType::kFloat32:
      if (p.float_data_size() != n) return count_mismatch(what, "float_data", p.float_data_size(), *t);
      for (int64_t i = 0; i < n; ++i) static_cast<float*>(dst)[i] = p.float_data(static_cast<int>(i));
      return Status::Ok();
    case DType::kFloat64:
      if (p.double_data_size() != n) return count_mismatch(what, "double_data", p.double_data_size(), *t);
      for (int64_t i = 0; i < n; ++i) static_cast<double*>(dst)[i] = p.double_data(static_cast<int>(i));
      return Status::Ok();
    case DType::kInt64:
      if (p.int64_data_size() != n) return count_mismatch(what, "int64_data", p.int64_data_size(), *t);
      for (int64_t i = 0; i < n; ++i) static_cast<int64_t*>(dst)[i] = p.int64_data(static_cast<int>(i));
      return Status::Ok();
    case DType::kUint32:
    case DType::kUint64:
      if (p.uint64_data_size() != n) return count_mismatch(what, "uint64_data", p.uint64_data_size(), *t);
      for (int64_t i = 0; i < n; ++i) {
        const uint64_t v = p.uint64_data(static_cast<int>(i));
        if (t->dtype() == DType::kUint64) {
          static_cast<uint64_t*>(dst)[i] = v;
        } else {
          static_cast<uint32_t*>(dst)[i] = static_cast<uint32_t>(v);
        }
      }
      return Status::Ok();
    default:
      break;
  }
  // The narrow types (int32, int16, int8, uint16, uint8, bool, float16 and bfloat16 bits) use int32_data.
  if (p.int32_data_size() != n) return count_mismatch(what, "int32_data", p.int32_data_size(), *t);
  for (int64_t i = 0; i < n; ++i) {
    const int32_t v = p.int32_data(static_cast<int>(i));
    switch (t->dtype()) {
      case DType::kInt32:
        static_cast<int32_t*>(dst)[i] = v;
        break;
      case DType::kInt16:
        static_cast<int16_t*>(dst)[i] = static_cast<int16_t>(v);
        break;
      case DType::kInt8:
        static_cast<int8_t*>(dst)[i] = static_cast<int8_t>(v);
        break;
      case DType::kUint16:
      case DType::kFloat16:
      case DType::kBFloat16:
        static_cast<uint16_t*>(dst)[i] = static_cast<uint16_t>(v);
        break;
      case DType::kUint8:
        static_cast<uint8_t*>(dst)[i] = static_cast<uint8_t>(v);
        break;
      case DType::kBool:
        static_cast<uint8_t*>(dst)[i] = v != 0 ? 1 : 0;
        break;
      default:
        return unsupported(what + ": dtype " + dtype_name(t->dtype()) + " cannot be read from int32_data");
    }
  }
  return Status::Ok();
}

}  // namespace

Expected<Tensor> tensor_from_proto(const onnx::TensorProto& p, const ExternalDataContext& ext,
                                   const std::string& what) {
  const int32_t raw_type = p.data_type();
  if (raw_type == static_cast<int32_t>(DType::kString))
    return unsupported(what + " is a string tensor; kiln does not support string tensors");
  if (!dtype_is_known(raw_type))
    return unsupported(what + " has ONNX data type " + std::to_string(raw_type) + ", which kiln does not support");
  const DType dtype = static_cast<DType>(raw_type);
  if (p.has_segment()) return unsupported(what + " is a segmented tensor, which kiln does not support");
  Shape shape(p.dims().begin(), p.dims().end());
  for (int64_t d : shape)
    if (d < 0) return invalid_input(what + " has a negative dimension in its shape " + shape_to_string(shape));
  const auto n = checked_numel(shape);
  const size_t esize = dtype_size(dtype);
  if (!n || static_cast<uint64_t>(*n) > max_tensor_bytes() / esize)
    return invalid_input(what + " declares shape " + shape_to_string(shape) + " of " + dtype_name(dtype) +
                         ", over the per-tensor limit of " + std::to_string(max_tensor_bytes() >> 20) + " MiB");
  const size_t nbytes = static_cast<size_t>(*n) * esize;
  const bool external = p.data_location() == onnx::TensorProto::EXTERNAL;
  // Check the byte count before allocating, so a tiny file cannot make us allocate its declared size.
  if (!external && p.has_raw_data() && p.raw_data().size() != nbytes)
    return invalid_input(what + " has " + std::to_string(p.raw_data().size()) + " bytes of raw_data but its shape " +
                         dtype_name(dtype) + "[" + shape_to_string(shape) + "] needs " + std::to_string(nbytes));
  const bool has_typed =
      p.float_data_size() || p.int32_data_size() || p.int64_data_size() || p.double_data_size() || p.uint64_data_size();
  if (!external && !p.has_raw_data() && !has_typed && nbytes != 0)
    return invalid_input(what + " has shape " + dtype_name(dtype) + "[" + shape_to_string(shape) +
                         "] but carries no data");
  if (!external && !p.has_raw_data()) {
    // Typed fields hold at least one byte per element on the wire, which bounds honest counts.
    const int64_t have = std::max<int64_t>(
        {p.float_data_size(), p.int32_data_size(), p.int64_data_size(), p.double_data_size(), p.uint64_data_size()});
    if (have != *n)
      return invalid_input(what + " has " + std::to_string(have) + " values but its shape " + dtype_name(dtype) + "[" +
                           shape_to_string(shape) + "] needs " + std::to_string(*n));
  }
  KILN_ASSIGN_OR_RETURN(Tensor t, Tensor::create(dtype, shape));
  if (external) {
    KILN_RETURN_IF_ERROR(read_external(p, ext, what, nbytes, &t));
  } else if (p.has_raw_data()) {
    if (nbytes) std::memcpy(t.raw(), p.raw_data().data(), nbytes);  // kiln hosts are little-endian, like ONNX
  } else if (nbytes) {
    KILN_RETURN_IF_ERROR(read_typed(p, what, &t));
  }
  return t;
}

void tensor_to_proto(const Tensor& t, const std::string& name, onnx::TensorProto* proto) {
  proto->Clear();
  if (!name.empty()) proto->set_name(name);
  proto->set_data_type(static_cast<int32_t>(t.dtype()));
  for (int64_t d : t.shape()) proto->add_dims(d);
  proto->set_raw_data(t.raw(), t.nbytes());
}

}  // namespace onnx_detail

Expected<Tensor> tensor_from_pb_bytes(const void* data, size_t size) {
  onnx::TensorProto proto;
  if (!onnx_detail::parse_proto(data, size, &proto))
    return invalid_input("not a valid serialized ONNX TensorProto (" + std::to_string(size) + " bytes)");
  const std::string what = "tensor '" + proto.name() + "'";
  return onnx_detail::tensor_from_proto(proto, onnx_detail::ExternalDataContext{}, what);
}

Expected<Tensor> load_tensor_pb(const std::string& path) {
  KILN_ASSIGN_OR_RETURN(std::string bytes,
                        onnx_detail::read_file_bytes(path, onnx_detail::kMaxProtoBytes, "tensor file"));
  onnx::TensorProto proto;
  if (!onnx_detail::parse_proto(bytes.data(), bytes.size(), &proto))
    return invalid_input("'" + path + "' is not a valid serialized ONNX TensorProto");
  onnx_detail::ExternalDataContext ext;
  ext.base_dir = std::filesystem::path(path).parent_path().string();
  if (ext.base_dir.empty()) ext.base_dir = ".";
  return onnx_detail::tensor_from_proto(proto, ext, "tensor '" + proto.name() + "' in '" + path + "'");
}

Status write_tensor_pb(const Tensor& t, const std::string& name, const std::string& path) {
  if (!t.defined()) return invalid_input("cannot write an undefined tensor to '" + path + "'");
  onnx::TensorProto proto;
  onnx_detail::tensor_to_proto(t, name, &proto);
  std::string bytes;
  if (t.nbytes() >= onnx_detail::kMaxProtoBytes || !proto.SerializeToString(&bytes))
    return runtime_error("cannot serialize tensor '" + name + "' (" + t.describe() + ") to '" + path + "'");
  return onnx_detail::write_file_atomic(path, bytes);
}

}  // namespace kiln
