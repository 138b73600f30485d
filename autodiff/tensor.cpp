#include "autodiff/tensor.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <sstream>

namespace sv {

size_t dtype_size(DType t) {
  switch (t) {
    case DType::F32: return 4;
    case DType::F64: return 8;
    case DType::I32: return 4;
  }
  return 0;
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "float32";
    case DType::F64: return "float64";
    case DType::I32: return "int32";
  }
  return "?";
}

const char* device_name(Device d) { return d == Device::CPU ? "cpu" : "cuda"; }

std::string shape_str(const Shape& s) {
  std::ostringstream os;
  os << "(";
  for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  if (s.size() == 1) os << ",";
  os << ")";
  return os.str();
}

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

size_t shape_bytes(const Shape& s, DType dtype) {
  const int64_t limit = (int64_t(1) << 56) / static_cast<int64_t>(dtype_size(dtype));
  int64_t n = 1;
  for (int64_t d : s) {
    SV_CHECK(d >= 0, ShapeError, "negative dimension in shape " + shape_str(s));
    SV_CHECK(d == 0 || n <= limit / d, ShapeError, "tensor too large: " + shape_str(s));
    n *= d;
  }
  return static_cast<size_t>(n) * dtype_size(dtype);
}

Shape fold_k(const Shape& s, int64_t K) {
  if (s.empty()) return {K};
  Shape f = s;
  f[0] *= K;
  return f;
}

Tensor::Tensor(std::shared_ptr<void> storage, Shape shape, DType dtype, Device device, int64_t offset,
               const void* owner)
    : storage_(std::move(storage)),
      shape_(std::move(shape)),
      dtype_(dtype),
      device_(device),
      offset_(offset),
      owner_(owner) {
  for (int64_t d : shape_) SV_CHECK(d >= 0, ShapeError, "negative dimension in shape " + shape_str(shape_));
}

Tensor Tensor::empty(const Shape& shape, DType dtype) {
  const size_t bytes = shape_bytes(shape, dtype);
  size_t rounded = (bytes + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, rounded == 0 ? 64 : rounded);
  if (!p) throw Error("out of host memory allocating " + std::to_string(bytes) + " bytes for " + shape_str(shape));
  return Tensor(std::shared_ptr<void>(p, std::free), shape, dtype, Device::CPU);
}

Tensor Tensor::zeros(const Shape& shape, DType dtype) {
  Tensor t = empty(shape, dtype);
  std::memset(t.raw(), 0, t.nbytes());
  return t;
}

Tensor Tensor::full(const Shape& shape, double value, DType dtype) {
  Tensor t = empty(shape, dtype);
  int64_t n = t.numel();
  switch (dtype) {
    case DType::F32: std::fill_n(t.data<float>(), n, static_cast<float>(value)); break;
    case DType::F64: std::fill_n(t.data<double>(), n, value); break;
    case DType::I32: std::fill_n(t.data<int32_t>(), n, static_cast<int32_t>(value)); break;
  }
  return t;
}

Tensor Tensor::from_vector(const std::vector<float>& v, const Shape& shape) {
  SV_CHECK(static_cast<int64_t>(v.size()) == shape_numel(shape), ShapeError,
           "from_vector: " + std::to_string(v.size()) + " values for shape " + shape_str(shape));
  Tensor t = empty(shape, DType::F32);
  if (t.nbytes()) std::memcpy(t.raw(), v.data(), t.nbytes());
  return t;
}

Tensor Tensor::from_vector(const std::vector<double>& v, const Shape& shape) {
  SV_CHECK(static_cast<int64_t>(v.size()) == shape_numel(shape), ShapeError,
           "from_vector: " + std::to_string(v.size()) + " values for shape " + shape_str(shape));
  Tensor t = empty(shape, DType::F64);
  if (t.nbytes()) std::memcpy(t.raw(), v.data(), t.nbytes());
  return t;
}

std::string Tensor::describe() const {
  return std::string(device_name(device_)) + " " + shape_str(shape_) + " " + dtype_name(dtype_);
}

int64_t Tensor::dim(int i) const {
  int n = ndim();
  int j = i < 0 ? i + n : i;
  SV_CHECK(j >= 0 && j < n, ShapeError, "dimension " + std::to_string(i) + " out of range for shape " + shape_str(shape_));
  return shape_[j];
}

void* Tensor::raw() const {
  SV_CHECK(defined(), Error, "access to an undefined tensor");
  return static_cast<char*>(storage_.get()) + offset_ * static_cast<int64_t>(dtype_size(dtype_));
}

double Tensor::item(int64_t i) const {
  SV_CHECK(is_cpu(), Error, "item() on a device tensor");
  SV_CHECK(i >= 0 && i < numel(), ShapeError, "item(" + std::to_string(i) + ") out of range for " + shape_str(shape_));
  switch (dtype_) {
    case DType::F32: return static_cast<const float*>(raw())[i];
    case DType::F64: return static_cast<const double*>(raw())[i];
    case DType::I32: return static_cast<const int32_t*>(raw())[i];
  }
  return 0;
}

Tensor Tensor::reshape(const Shape& shape) const {
  SV_CHECK(shape_numel(shape) == numel(), ShapeError,
           "reshape: cannot view " + shape_str(shape_) + " as " + shape_str(shape));
  Tensor t = *this;
  t.shape_ = shape;
  return t;
}

Tensor Tensor::slice0(int64_t begin, int64_t end) const {
  SV_CHECK(ndim() >= 1 && 0 <= begin && begin <= end && end <= shape_[0], ShapeError,
           "slice0 [" + std::to_string(begin) + ", " + std::to_string(end) + ") of " + shape_str(shape_));
  Tensor t = *this;
  int64_t row = shape_[0] == 0 ? 0 : numel() / shape_[0];
  t.offset_ = offset_ + begin * row;
  t.shape_[0] = end - begin;
  return t;
}

Tensor Tensor::clone() const {
  SV_CHECK(is_cpu(), Error, "clone() of a device tensor: use Backend::copy");
  Tensor t = empty(shape_, dtype_);
  if (nbytes()) std::memcpy(t.raw(), raw(), nbytes());
  return t;
}

namespace {
template <class From, class To>
void convert(const Tensor& src, Tensor& dst) {
  const From* a = static_cast<const From*>(src.raw());
  To* b = static_cast<To*>(dst.raw());
  for (int64_t i = 0, n = src.numel(); i < n; ++i) b[i] = static_cast<To>(a[i]);
}
template <class From>
void convert_from(const Tensor& src, Tensor& dst) {
  switch (dst.dtype()) {
    case DType::F32: convert<From, float>(src, dst); break;
    case DType::F64: convert<From, double>(src, dst); break;
    case DType::I32: convert<From, int32_t>(src, dst); break;
  }
}
}  // namespace

Tensor Tensor::to(DType dtype) const {
  SV_CHECK(is_cpu(), Error, "to(dtype) of a device tensor");
  if (dtype == dtype_) return *this;
  Tensor t = empty(shape_, dtype);
  switch (dtype_) {
    case DType::F32: convert_from<float>(*this, t); break;
    case DType::F64: convert_from<double>(*this, t); break;
    case DType::I32: convert_from<int32_t>(*this, t); break;
  }
  return t;
}

std::vector<float> Tensor::to_vector() const {
  Tensor f = to(DType::F32);
  const float* p = f.data<float>();
  return std::vector<float>(p, p + numel());
}

int64_t first_nonfinite(const Tensor& t) {
  SV_CHECK(t.is_cpu(), Error, "first_nonfinite of a device tensor");
  auto scan = [&](auto* p) {
    for (int64_t i = 0, n = t.numel(); i < n; ++i)
      if (!std::isfinite(p[i])) return i;
    return int64_t(-1);
  };
  switch (t.dtype()) {
    case DType::F32: return scan(static_cast<const float*>(t.raw()));
    case DType::F64: return scan(static_cast<const double*>(t.raw()));
    case DType::I32: return -1;
  }
  return -1;
}

void check_ndim(const Tensor& t, int ndim, const char* op, const char* what) {
  SV_CHECK(t.defined(), ShapeError, std::string(op) + ": " + what + " is undefined");
  SV_CHECK(t.ndim() == ndim, ShapeError,
           std::string(op) + ": " + what + " must have " + std::to_string(ndim) + " dimensions, got shape " +
               shape_str(t.shape()));
}

void check_same_shape(const Tensor& a, const Tensor& b, const char* op) {
  SV_CHECK(a.shape() == b.shape(), ShapeError,
           std::string(op) + ": shapes differ: " + shape_str(a.shape()) + " vs " + shape_str(b.shape()));
}

void check_same_dtype_device(const Tensor& a, const Tensor& b, const char* op) {
  SV_CHECK(a.dtype() == b.dtype(), ShapeError,
           std::string(op) + ": dtypes differ: " + dtype_name(a.dtype()) + " vs " + dtype_name(b.dtype()));
  SV_CHECK(a.device() == b.device(), ShapeError,
           std::string(op) + ": devices differ: " + device_name(a.device()) + " vs " + device_name(b.device()));
}

}  // namespace sv
