// The engine's typed errors (autodiff/error.h) as Python exceptions, with the engine's
// message: IoError -> FileNotFoundError for a missing file or folder, IsADirectoryError for
// a folder where a file was expected, OSError otherwise; ShapeError and ValueError ->
// ValueError; DeviceError and any other sv::Error -> RuntimeError; std::bad_alloc ->
// MemoryError (nanobind's own translation).
#pragma once

namespace svpy {

void register_error_translation();

}  // namespace svpy
