#include "arrays.h"

#include <memory>
#include <vector>

namespace svpy {

sv::Tensor tensor_from(const InArray& a, const std::string& what) {
  sv::Shape shape(a.ndim());
  for (size_t i = 0; i < a.ndim(); ++i) shape[i] = static_cast<int64_t>(a.shape(i));
  const bool f32 = a.dtype() == nb::dtype<float>(), f64 = a.dtype() == nb::dtype<double>();
  SV_CHECK(f32 || f64, sv::ValueError, what + ": expected a float32 or float64 array");
  // The view keeps its own reference to the array; the last Tensor sharing the storage may
  // die on a thread without the GIL, so the deleter takes it before dropping the reference.
  auto* keep = new InArray(a);
  std::shared_ptr<void> storage(const_cast<void*>(a.data()), [keep](void*) {
    nb::gil_scoped_acquire gil;
    delete keep;
  });
  sv::Tensor view(std::move(storage), shape, f32 ? sv::DType::F32 : sv::DType::F64, sv::Device::CPU);
  return f32 ? view : view.to(sv::DType::F32);
}

OutArray to_numpy(const sv::Tensor& t) {
  SV_CHECK(t.is_cpu(), sv::ShapeError, "to_numpy: a " + t.describe() + " tensor; download it first");
  auto* owner = new sv::Tensor(t.dtype() == sv::DType::F32 ? t : t.to(sv::DType::F32));
  nb::capsule cap(owner, [](void* p) noexcept { delete static_cast<sv::Tensor*>(p); });
  std::vector<size_t> shape(owner->shape().begin(), owner->shape().end());
  return OutArray(owner->data<float>(), shape.size(), shape.data(), cap);
}

}  // namespace svpy
