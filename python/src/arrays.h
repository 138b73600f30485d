// numpy arrays in and out of the engine, without copies where the layout allows.
//   in:  a C-contiguous float32 CPU array becomes a Tensor that views its memory and keeps
//        the array alive; float64 is converted to float32 (the model's dtype), a copy.
//   out: a host Tensor becomes a numpy array that owns the Tensor's storage (a capsule).
// The Python layer (sharedvis/_arrays.py) has already checked type, dtype, layout and
// ndim, naming the argument; the checks here guard the C++ entry points themselves.
#pragma once
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>

#include <string>

#include "autodiff/tensor.h"

namespace svpy {

namespace nb = nanobind;

using InArray = nb::ndarray<nb::ro, nb::c_contig, nb::device::cpu>;
using OutArray = nb::ndarray<nb::numpy, float>;

// A float32 view of a (float32: no copy; float64: converted) array; ValueError naming `what`
// for another dtype.
sv::Tensor tensor_from(const InArray& a, const std::string& what);
// The Tensor (host, float32 or float64 converted to float32) as a numpy array sharing its storage.
OutArray to_numpy(const sv::Tensor& t);

}  // namespace svpy
