// BackendOps: one harness for every Backend op on every backend present, in the manner of
// ggml's test-backend-ops. For each case of the op table (tests/op_cases.cpp: op × shape,
// forward, backward with one cotangent and K-stacked backward in one case):
//   - MatchesReference: every backend × dtype runs the case's Backend calls and each result
//     is compared with the CPU reference run in float64 on the same values, by the
//     normalised error max |got - ref| / (atol + rtol |ref|) with atol relative to the
//     reference's scale, atol = a * max(max |ref|, 1) (float32: rtol 1e-4, a 1e-5; float64:
//     rtol 1e-10, a 1e-12; a 10x for convolutions, cuDNN's algorithms, and batchnorm's
//     backward, a difference of sums); <= 1 passes. Integer results (max-pool indices) must be
//     equal. A case the reference rejects must be rejected with the same error type by every
//     backend; a case marked expect_error must be rejected by all, the reference included.
//     Backends: the reference in float32; the fast CPU path on 1, 2 and 3 threads (2 and 3
//     splitting even tiny work) in float32 and float64; CUDA in float32 where a device is.
//   - BackendOpsGrad: the layers/ops function of the case in float64, its vjp with one and
//     with K = 2 stacked cotangents against central finite differences (tests/gradcheck.h) on the reference and the fast
//     path; inputs are made away from ReLU and max-pool kinks.
// Every row (op, shape, backend, ran or skipped and why, max error) is printed in one
// table when the program ends.
#include <gtest/gtest.h>

#include <cctype>
#include <cstdio>
#include <functional>
#include <map>

#include "backends/cpu/cpu_backend.h"
#include "backends/factory.h"
#include "tests/gradcheck.h"
#include "tests/op_cases.h"

namespace sv::test {
namespace {

const std::vector<OpCase>& table() {
  static const std::vector<OpCase> t = all_op_cases();
  return t;
}

// ---- the backends under test, made once
struct Target {
  std::string name;
  DType dtype;
  std::function<Backend*()> get;  // null when not present
  std::function<std::string()> absent;
};

Backend* reference_backend() {
  static std::unique_ptr<Backend> be = make_cpu_backend(true);
  return be.get();
}
// The fast backend on `threads` threads; beyond one it splits even tiny work (the default
// minimum work per thread would keep the table's small tensors on one thread).
Backend* fast_backend(int threads) {
  static std::map<int, std::unique_ptr<Backend>> made;
  auto& be = made[threads];
  if (!be)
    be = threads == 1 ? make_cpu_backend(false, 1) : std::make_unique<CpuBackend>(fast::Parallel{threads, 64, 256});
  return be.get();
}
Backend* cuda_backend() {
  static std::unique_ptr<Backend> be = cuda_available() ? make_test_gpu() : nullptr;
  return be.get();
}

const std::vector<Target>& targets() {
  static const std::vector<Target> t{
      {"reference", DType::F32, reference_backend, {}},
      {"fast 1 thread", DType::F32, [] { return fast_backend(1); }, {}},
      {"fast 1 thread", DType::F64, [] { return fast_backend(1); }, {}},
      {"fast 2 threads", DType::F32, [] { return fast_backend(2); }, {}},
      {"fast 2 threads", DType::F64, [] { return fast_backend(2); }, {}},
      {"fast 3 threads", DType::F32, [] { return fast_backend(3); }, {}},
      {"fast 3 threads", DType::F64, [] { return fast_backend(3); }, {}},
      {"cuda", DType::F32, cuda_backend, no_cuda_reason},
  };
  return t;
}

// ---- the table of rows, printed at the end
struct Row {
  std::string op, shape, backend, status;
  double error;
};
std::vector<Row>& rows() {
  static std::vector<Row> r;
  return r;
}

class PrintTable : public ::testing::Environment {
 public:
  void TearDown() override {
    if (rows().empty()) return;
    std::printf("\n%-18s %-58s %-44s %-40s %s\n", "op", "shape", "backend", "ran / skipped", "max error");
    int ran = 0, skipped = 0, failed = 0;
    for (const Row& r : rows()) {
      std::printf("%-18s %-58s %-44s %-40s ", r.op.c_str(), r.shape.c_str(), r.backend.c_str(), r.status.c_str());
      if (r.error >= 0)
        std::printf("%.3g\n", r.error);
      else
        std::printf("-\n");
      if (r.status.rfind("skipped", 0) == 0)
        ++skipped;
      else if (r.status.rfind("FAIL", 0) == 0)
        ++failed;
      else
        ++ran;
    }
    std::printf("%d rows: %d ran and passed, %d failed, %d skipped\n", ran + skipped + failed, ran, failed, skipped);
  }
};
const auto* const kPrintTable = ::testing::AddGlobalTestEnvironment(new PrintTable);

// ---- inputs
uint64_t case_seed(size_t index) { return 1000 + 7919 * index; }

// Host float64 inputs (int32 labels) of case c.
std::vector<Tensor> make_inputs(const OpCase& c, uint64_t seed) {
  std::vector<Tensor> v;
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    const InputSpec& s = c.inputs[i];
    const uint64_t sd = seed + 31 * i;
    switch (s.gen) {
      case Gen::Normal: v.push_back(randn(s.shape, sd, DType::F64, s.scale)); break;
      case Gen::AwayFromZero: v.push_back(randn_away_from_zero(s.shape, sd, 1e-5)); break;
      case Gen::Distinct: v.push_back(distinct_values(s.shape, sd)); break;
      case Gen::Ties: v.push_back(rand_ties(s.shape, sd)); break;
      case Gen::KinkFreeSum: {
        Tensor t = randn_away_from_zero(s.shape, sd, 1e-5);
        for (int64_t j = 0; j < t.numel(); ++j) t.data<double>()[j] -= v.back().item(j);
        v.push_back(t);
        break;
      }
      case Gen::Labels: {
        Tensor t = Tensor::empty(s.shape, DType::I32);
        for (int64_t j = 0; j < t.numel(); ++j) t.data<int32_t>()[j] = static_cast<int32_t>((j * 7 + 3) % s.classes);
        v.push_back(t);
        break;
      }
    }
  }
  return v;
}

// The inputs in dtype, held by be (fresh copies: in-place ops write into them).
std::vector<Tensor> place(Backend& be, const std::vector<Tensor>& host, DType dtype) {
  std::vector<Tensor> v;
  for (const Tensor& t : host) v.push_back(be.upload(t.dtype() == DType::I32 ? t.clone() : t.to(dtype).clone()));
  return v;
}

std::string error_type(const std::exception& e) {
  if (dynamic_cast<const ShapeError*>(&e)) return "ShapeError";
  if (dynamic_cast<const ValueError*>(&e)) return "ValueError";
  if (dynamic_cast<const Error*>(&e)) return "sv::Error";
  return "std::exception";
}

// Runs c on be; returns the results on the host, or the error type it threw in *thrown.
std::vector<Tensor> run_on(Backend& be, const OpCase& c, const std::vector<Tensor>& host, DType dtype,
                           std::string* thrown, std::string* message) {
  try {
    std::vector<Tensor> out = c.run(be, place(be, host, dtype));
    for (Tensor& t : out) t = be.download(t);
    return out;
  } catch (const std::exception& e) {
    *thrown = error_type(e);
    *message = e.what();
    return {};
  }
}

class BackendOps : public ::testing::TestWithParam<size_t> {};
class BackendOpsGrad : public ::testing::TestWithParam<size_t> {};

TEST_P(BackendOps, MatchesReference) {
  const OpCase& c = table()[GetParam()];
  SCOPED_TRACE(c.op + " " + c.shape);
  // Every backend sees the same values: the float32 rounding of the float64 draws.
  std::vector<Tensor> host = make_inputs(c, case_seed(GetParam()));
  for (Tensor& t : host)
    if (t.dtype() != DType::I32) t = t.to(DType::F32).to(DType::F64);

  std::string ref_thrown, ref_message;
  const std::vector<Tensor> ref = run_on(*reference_backend(), c, host, DType::F64, &ref_thrown, &ref_message);
  if (!c.expect_error.empty()) {
    EXPECT_EQ(ref_thrown, c.expect_error) << "the reference should reject this case";
  } else {
    EXPECT_EQ(ref_thrown, "") << "the reference rejected the case: " << ref_message;
  }
  ASSERT_TRUE(ref_thrown.empty() || ref_thrown == c.expect_error);
  if (ref_thrown.empty()) {
    ASSERT_EQ(ref.size(), c.outputs.size());
  }

  for (const Target& target : targets()) {
    const std::string label = target.name + " " + dtype_name(target.dtype);
    Backend* be = target.get();
    if (be == nullptr) {
      rows().push_back({c.op, c.shape, label, "skipped: " + target.absent(), -1});
      continue;
    }
    std::string thrown, message;
    const std::vector<Tensor> got = run_on(*be, c, host, target.dtype, &thrown, &message);
    if (!ref_thrown.empty() || !thrown.empty()) {
      EXPECT_EQ(thrown, ref_thrown) << label << " " << message;
      rows().push_back({c.op, c.shape, label,
                        thrown == ref_thrown ? "ran: rejected (" + thrown + ") as expected"
                                             : "FAIL: threw '" + thrown + "', reference '" + ref_thrown + "'",
                        -1});
      continue;
    }
    const double rtol = target.dtype == DType::F32 ? 1e-4 : 1e-10;
    const double atol_rel = target.dtype == DType::F32 ? 1e-5 : 1e-12;
    double worst = 0;
    std::string worst_what;
    bool structural = false;
    for (size_t o = 0; o < ref.size(); ++o) {
      const std::string what = label + ": " + c.outputs[o];
      EXPECT_EQ(got[o].shape(), ref[o].shape()) << what;
      const DType want = ref[o].dtype() == DType::I32 ? DType::I32 : target.dtype;
      EXPECT_EQ(got[o].dtype(), want) << what;
      if (got[o].shape() != ref[o].shape() || got[o].dtype() != want) {
        structural = true;
        continue;
      }
      double e = 0;
      if (want == DType::I32) {
        for (int64_t i = 0; i < ref[o].numel(); ++i)
          if (got[o].data<int32_t>()[i] != ref[o].data<int32_t>()[i]) e = INFINITY;
      } else {
        e = scaled_error(got[o], ref[o], c.tol * atol_rel, rtol);
      }
      EXPECT_LE(e, 1.0) << what;
      if (e >= worst) {
        worst = e;
        worst_what = c.outputs[o];
      }
    }
    rows().push_back({c.op, c.shape, label,
                      structural ? "FAIL: shape or dtype" : worst <= 1 ? "ran" : "FAIL: " + worst_what, worst});
  }
}

// Parameter gradients take one cotangent (the graph refuses K > 1 for them), so a case
// with several differentiable inputs is checked twice: K = 1 for all of them, and K-stacked
// for its first input with the others held constant.
TEST_P(BackendOpsGrad, FiniteDifferences) {
  const OpCase& c = table()[GetParam()];
  SCOPED_TRACE(c.op + " " + c.shape);
  const std::vector<Tensor> host = make_inputs(c, case_seed(GetParam()));
  const size_t n = c.grad_inputs.size();
  // The case's function with its first `diff` inputs as the gradient targets.
  auto with_targets = [&](size_t diff) -> GraphFn {
    return [&, diff](Graph& g, const std::vector<Var>& v) {
      std::vector<Var> all(v.begin(), v.end());
      for (size_t j = diff; j < n; ++j) all.push_back(g.input(host[static_cast<size_t>(c.grad_inputs[j])]));
      return c.grad(all, host);
    };
  };
  std::vector<std::pair<size_t, int64_t>> runs;  // (targets, K)
  if (n > 1) runs.emplace_back(n, 1);
  runs.emplace_back(1, c.grad_k);
  for (auto [diff, K] : runs) {
    std::vector<Tensor> targets;
    for (size_t j = 0; j < diff; ++j) targets.push_back(host[static_cast<size_t>(c.grad_inputs[j])]);
    const std::string what = " float64 gradcheck K=" + std::to_string(K) + (diff == n ? "" : ", input 0 only");
    for (auto [name, be] : std::vector<std::pair<std::string, Backend*>>{{"reference", reference_backend()},
                                                                         {"fast 1 thread", fast_backend(1)},
                                                                         {"fast 2 threads", fast_backend(2)}}) {
      SCOPED_TRACE(name + what);
      const double e = gradcheck_on(*be, with_targets(diff), targets, K);
      rows().push_back({c.op, c.shape, name + what, e <= 1 ? "ran" : "FAIL", e});
    }
  }
}

std::vector<size_t> all_rows() {
  std::vector<size_t> r(table().size());
  for (size_t i = 0; i < r.size(); ++i) r[i] = i;
  return r;
}
std::vector<size_t> grad_rows() {
  std::vector<size_t> r;
  for (size_t i = 0; i < table().size(); ++i)
    if (table()[i].grad) r.push_back(i);
  return r;
}

// A ctest name: the row number, the op and its shape in letters, digits and underscores.
std::string row_name(const ::testing::TestParamInfo<size_t>& info) {
  const OpCase& c = table()[info.param];
  std::string s = std::to_string(info.param) + "_" + c.op + "_" + c.shape, out;
  for (char ch : s) {
    const bool keep = std::isalnum(static_cast<unsigned char>(ch));
    if (keep)
      out += ch;
    else if (!out.empty() && out.back() != '_')
      out += '_';
  }
  while (!out.empty() && out.back() == '_') out.pop_back();
  return out;
}

INSTANTIATE_TEST_SUITE_P(Table, BackendOps, ::testing::ValuesIn(all_rows()), row_name);
INSTANTIATE_TEST_SUITE_P(Table, BackendOpsGrad, ::testing::ValuesIn(grad_rows()), row_name);

}  // namespace
}  // namespace sv::test
