// Typed errors of sharedvis. Library code throws these and never calls exit();
// the CLI catches them at the top, prints the message and exits non-zero.
#pragma once
#include <stdexcept>
#include <string>

namespace sv {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// A tensor of the wrong shape, dtype or device was passed to an op.
struct ShapeError : Error {
  using Error::Error;
};
// An invalid parameter (negative stride, unknown option, ...).
struct ValueError : Error {
  using Error::Error;
};
// A file that is missing, unreadable, truncated or corrupt.
struct IoError : Error {
  using Error::Error;
};
// A CUDA, cuDNN or cuBLAS call that failed, or a missing device.
struct DeviceError : Error {
  using Error::Error;
};

// SV_CHECK(cond, ErrorType, message-expression): throw ErrorType(message) unless cond.
#define SV_CHECK(cond, Err, msg)      \
  do {                                \
    if (!(cond)) throw Err(msg);      \
  } while (0)

}  // namespace sv
