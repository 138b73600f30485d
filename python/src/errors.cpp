#include "errors.h"

#include <nanobind/nanobind.h>

#include <string>

#include "autodiff/error.h"

namespace svpy {

namespace nb = nanobind;

namespace {

bool mentions(const std::string& s, const char* what) { return s.find(what) != std::string::npos; }

PyObject* io_error_class(const std::string& msg) {
  if (mentions(msg, "no such file") || mentions(msg, "No such file") || mentions(msg, "does not exist"))
    return PyExc_FileNotFoundError;
  if (mentions(msg, "is a directory") || mentions(msg, "Is a directory")) return PyExc_IsADirectoryError;
  return PyExc_OSError;
}

}  // namespace

void register_error_translation() {
  nb::register_exception_translator([](const std::exception_ptr& p, void*) {
    try {
      std::rethrow_exception(p);
    } catch (const sv::IoError& e) {
      PyErr_SetString(io_error_class(e.what()), e.what());
    } catch (const sv::ShapeError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const sv::ValueError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const sv::DeviceError& e) {
      PyErr_SetString(PyExc_RuntimeError, e.what());
    } catch (const sv::Error& e) {
      PyErr_SetString(PyExc_RuntimeError, e.what());
    }
  });
}

}  // namespace svpy
