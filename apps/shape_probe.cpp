// A Backend whose forward kernels return uninitialized tensors of the right shape and
// whose backward kernels refuse to run. Host memory is allocated but never touched.
#include "apps/shape_probe.h"

namespace sv {

namespace {

class ShapeBackend : public Backend {
 public:
  Device device() const override { return Device::CPU; }
  std::string name() const override { return "shape-probe"; }

  Tensor empty(const Shape& s, DType dt) override { return Tensor::empty(s, dt); }
  Tensor zeros(const Shape& s, DType dt) override { return Tensor::empty(s, dt); }
  Tensor upload(const Tensor& host) override { return host; }
  Tensor download(const Tensor& t) override { return t; }
  void copy_(Tensor&, const Tensor&) override {}

  Tensor add(const Tensor& a, const Tensor&) override { return like(a); }
  void axpy_(Tensor&, const Tensor&, double) override {}
  Tensor scale(const Tensor& x, double) override { return like(x); }
  Tensor mul_tiled(const Tensor& g, const Tensor&) override { return like(g); }
  Tensor interpolate(const Tensor& x0, const Tensor&, const std::vector<double>& t) override {
    return Tensor::empty(fold_k(x0.shape(), static_cast<int64_t>(t.size())), x0.dtype());
  }
  Tensor sum_all(const Tensor& x) override { return Tensor::empty({}, x.dtype()); }
  Tensor sum_blocks(const Tensor& x, int64_t K) override { return Tensor::empty({K}, x.dtype()); }
  Tensor broadcast_blocks(const Tensor&, int64_t, double) override { return refuse(); }

  Tensor conv2d_forward(const Tensor& x, const Tensor& w, const Tensor&, const Conv2dParams& p) override {
    return Tensor::empty(conv2d_out_shape(x.shape(), w.shape(), p), x.dtype());
  }
  Tensor conv2d_backward_data(const Tensor&, const Tensor&, const Shape&, const Conv2dParams&) override {
    return refuse();
  }
  Tensor conv2d_backward_filter(const Tensor&, const Tensor&, const Shape&, const Conv2dParams&) override {
    return refuse();
  }
  Tensor channel_sum(const Tensor&) override { return refuse(); }

  Tensor channel_affine(const Tensor& x, const Tensor&, const Tensor&) override { return like(x); }
  Tensor batchnorm_train_forward(const Tensor&, const Tensor&, const Tensor&, double, Tensor&, Tensor&, Tensor&,
                                 Tensor&) override {
    return refuse();
  }
  Tensor batchnorm_train_backward(const Tensor&, const Tensor&, const Tensor&, const Tensor&, Tensor&,
                                  Tensor&) override {
    return refuse();
  }

  Tensor relu_forward(const Tensor& x) override { return like(x); }
  Tensor relu_backward(const Tensor&, const Tensor&) override { return refuse(); }

  Tensor maxpool_forward(const Tensor& x, const Pool2dParams& p, Tensor& indices) override {
    const Shape s = pool2d_out_shape(x.shape(), p, "maxpool2d");
    indices = Tensor::empty(s, DType::I32);
    return Tensor::empty(s, x.dtype());
  }
  Tensor maxpool_backward(const Tensor&, const Tensor&, const Shape&) override { return refuse(); }
  Tensor avgpool_forward(const Tensor& x, const Pool2dParams& p) override {
    return Tensor::empty(pool2d_out_shape(x.shape(), p, "avgpool2d"), x.dtype());
  }
  Tensor avgpool_backward(const Tensor&, const Shape&, const Pool2dParams&) override { return refuse(); }
  Tensor adaptive_avgpool_forward(const Tensor& x, int out_h, int out_w) override {
    return Tensor::empty({x.dim(0), x.dim(1), out_h, out_w}, x.dtype());
  }
  Tensor adaptive_avgpool_backward(const Tensor&, const Shape&) override { return refuse(); }

  Tensor linear_forward(const Tensor& x, const Tensor& w, const Tensor&) override {
    return Tensor::empty({x.dim(0), w.dim(0)}, x.dtype());
  }
  Tensor linear_backward_data(const Tensor&, const Tensor&) override { return refuse(); }
  Tensor linear_backward_weight(const Tensor&, const Tensor&) override { return refuse(); }

  Tensor softmax_xent_forward(const Tensor&, const Tensor&, Tensor&) override { return refuse(); }
  Tensor softmax_xent_backward(const Tensor&, const Tensor&, const Tensor&) override { return refuse(); }

 private:
  static Tensor like(const Tensor& x) { return Tensor::empty(x.shape(), x.dtype()); }
  [[noreturn]] static Tensor refuse() { throw Error("shape probe: only forward kernels that shape outputs are available"); }
};

}  // namespace

std::vector<LayerShape> layer_output_shapes(Model& m, const Shape& x_shape) {
  SV_CHECK(m.net != nullptr, ValueError, "model has no network");
  ShapeBackend be;
  DType dt = DType::F32;
  for (auto& [name, p] : m.net->state()) {
    SV_CHECK(!p->value.defined() || p->value.is_cpu(), Error, "layer_output_shapes: tensor " + name + " is not on the host");
    if (p->value.defined()) dt = p->value.dtype();
  }
  const Tensor x = Tensor::empty(x_shape, dt);
  std::vector<LayerShape> out;
  for (const std::string& name : m.net->layer_names()) {
    Graph g(be, false);
    Forward fw(g, name, /*fuse=*/false);  // the probe's values are garbage: cache nothing from them
    m.net->forward(g.input(x), fw);
    out.push_back({name, fw.done() ? fw.captured().shape() : Shape{}});
  }
  return out;
}

}  // namespace sv
