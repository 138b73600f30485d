// Dense tensors: a shape, a dtype, a device and shared storage.
//
// A Tensor is always contiguous (row-major, NCHW for images). Copies of a Tensor
// share storage (like a shared_ptr); clone() makes a deep copy. slice0() views a
// range along dimension 0 without copying (used to chunk K-stacked gradients).
// float32 is the product's dtype; float64 runs through the CPU kernels so that
// gradient checks can be tight; int32 holds indices (max-pool argmax, labels).
// Device memory is allocated by a Backend (see backend.h); this file only knows
// how to allocate host memory. A device tensor also records its owner: the allocator of
// the backend that made it (whose stream orders every access to it). Backends refuse
// device tensors of another owner, and host code refuses device memory (data<T>()),
// with an error naming the tensor, instead of reusing it silently.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "autodiff/error.h"

namespace sv {

enum class DType : uint8_t { F32, F64, I32 };
enum class Device : uint8_t { CPU, CUDA };

using Shape = std::vector<int64_t>;

size_t dtype_size(DType t);
const char* dtype_name(DType t);
const char* device_name(Device d);
std::string shape_str(const Shape& s);  // "(2, 3, 4)"
int64_t shape_numel(const Shape& s);
// Bytes of a tensor of this shape and dtype, for allocators; ShapeError for a negative
// dimension or a size that would overflow.
size_t shape_bytes(const Shape& s, DType dtype);
// The shape of K stacked copies folded into dim 0: (N, ...) -> (K*N, ...); () -> (K,).
Shape fold_k(const Shape& s, int64_t K);

template <class T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::F32; }
template <> constexpr DType dtype_of<double>() { return DType::F64; }
template <> constexpr DType dtype_of<int32_t>() { return DType::I32; }

class Tensor {
 public:
  Tensor() = default;
  // Wraps storage allocated elsewhere (a Backend's allocator). owner: for device memory,
  // the identity of the allocator it came from (nullptr for host memory).
  Tensor(std::shared_ptr<void> storage, Shape shape, DType dtype, Device device, int64_t offset = 0,
         const void* owner = nullptr);

  // Host tensors.
  static Tensor empty(const Shape& shape, DType dtype = DType::F32);
  static Tensor zeros(const Shape& shape, DType dtype = DType::F32);
  static Tensor full(const Shape& shape, double value, DType dtype = DType::F32);
  static Tensor from_vector(const std::vector<float>& v, const Shape& shape);
  static Tensor from_vector(const std::vector<double>& v, const Shape& shape);

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  int ndim() const { return static_cast<int>(shape_.size()); }
  int64_t dim(int i) const;  // negative i counts from the end
  int64_t numel() const { return shape_numel(shape_); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }
  DType dtype() const { return dtype_; }
  Device device() const { return device_; }
  bool is_cpu() const { return device_ == Device::CPU; }
  // The allocator a device tensor's memory came from (nullptr for host tensors). It stays
  // alive as long as the tensor, so no other allocator can share its address meanwhile.
  const void* owner() const { return owner_; }
  // No other Tensor (copy or view) shares this one's storage: an op that is handed it for
  // good may write its result there.
  bool sole_owner() const { return storage_.use_count() == 1; }
  // "cuda (2, 3) float32": for error messages.
  std::string describe() const;

  void* raw() const;  // the first element's address, host or device
  // Typed host access: ShapeError for another dtype or for device memory.
  template <class T> T* data() const {
    SV_CHECK(dtype_ == dtype_of<T>(), ShapeError,
             std::string("tensor dtype is ") + dtype_name(dtype_) + ", accessed as " + dtype_name(dtype_of<T>()));
    SV_CHECK(is_cpu(), ShapeError,
             "a " + describe() + " tensor reached host code (a CPU kernel or host access); download it first");
    return static_cast<T*>(raw());
  }
  // Element access for host tensors (any dtype read as double). Slow; tests and small code only.
  double item(int64_t flat_index = 0) const;

  Tensor reshape(const Shape& shape) const;  // same storage; numel must match
  Tensor slice0(int64_t begin, int64_t end) const;  // rows [begin, end) of dim 0, shared storage
  Tensor clone() const;  // host only: deep copy
  Tensor to(DType dtype) const;  // host only: converted copy (or this if same dtype)
  std::vector<float> to_vector() const;  // host only, any float dtype

 private:
  std::shared_ptr<void> storage_;
  Shape shape_;
  DType dtype_ = DType::F32;
  Device device_ = Device::CPU;
  int64_t offset_ = 0;  // in elements
  const void* owner_ = nullptr;
};

// Index of the first NaN or infinite element of a host tensor, or -1 when every element is
// finite (int32 tensors always are).
int64_t first_nonfinite(const Tensor& t);

// "op: expected ..., got (..)" style checks used by every op.
void check_ndim(const Tensor& t, int ndim, const char* op, const char* what);
void check_same_shape(const Tensor& a, const Tensor& b, const char* op);
void check_same_dtype_device(const Tensor& a, const Tensor& b, const char* op);

}  // namespace sv
