#include "autodiff/graph.h"

namespace sv {

Backend& Var::backend() const {
  SV_CHECK(graph != nullptr, Error, "Var without a graph");
  return graph->backend();
}

Var Graph::input(const Tensor& t, bool requires_grad) {
  Var v{this, backend_.upload(t), -1};
  if (record_) {
    tape_.push_back(Entry{t.shape(), t.dtype(), {}, nullptr, nullptr, requires_grad});
    v.id = static_cast<int>(tape_.size()) - 1;
  }
  return v;
}

Var Graph::param(Param& p) {
  SV_CHECK(backend_.holds(p.value), ShapeError,
           "parameter " + p.name + " is a " + p.value.describe() + " tensor" +
               (p.value.device() == backend_.device() ? " of another backend" : "") + ", the graph runs on " +
               backend_.name() + " (move the model there first)");
  Var v{this, p.value, -1};
  if (record_) {
    tape_.push_back(Entry{p.value.shape(), p.value.dtype(), {}, nullptr, &p, true});
    v.id = static_cast<int>(tape_.size()) - 1;
  }
  return v;
}

Var Graph::record(Tensor value, const std::vector<Var>& inputs, std::unique_ptr<Node> node) {
  Var v{this, std::move(value), -1};
  if (!record_) return v;
  Entry e{v.value.shape(), v.value.dtype(), {}, std::move(node), nullptr, false};
  for (const Var& in : inputs) {
    int id = -1;
    if (in.value.defined()) {
      SV_CHECK(in.graph == this, Error, "an op mixes Vars of different graphs");
      id = in.id;
      if (id >= 0) e.requires_grad = e.requires_grad || tape_[id].requires_grad;
    }
    e.inputs.push_back(id);
  }
  tape_.push_back(std::move(e));
  v.id = static_cast<int>(tape_.size()) - 1;
  return v;
}

void Graph::check_var(const Var& v, const char* what) const {
  SV_CHECK(record_, Error, std::string(what) + ": the graph was built in inference mode (record = false)");
  SV_CHECK(v.graph == this && v.id >= 0 && v.id < static_cast<int>(tape_.size()), Error,
           std::string(what) + ": Var is not recorded in this graph");
}

void Graph::run_backward(int y, const Tensor& seed, int64_t K, const std::vector<bool>& need,
                         const std::vector<bool>& keep, std::vector<Tensor>& grads) {
  grads.assign(tape_.size(), Tensor());
  grads[y] = seed;
  for (int id = y; id >= 0; --id) {
    Entry& e = tape_[id];
    if (!e.node || !grads[id].defined()) continue;
    std::vector<bool> need_in(e.inputs.size());
    bool any = false;
    for (size_t i = 0; i < e.inputs.size(); ++i) {
      need_in[i] = e.inputs[i] >= 0 && need[e.inputs[i]];
      any = any || need_in[i];
    }
    if (any) {
      std::vector<Tensor> gin(e.inputs.size());
      e.node->backward(backend_, grads[id], K, need_in, gin);
      for (size_t i = 0; i < e.inputs.size(); ++i) {
        if (!need_in[i]) continue;
        int in = e.inputs[i];
        const Tensor& g = gin[i];
        SV_CHECK(g.defined() && g.shape() == fold_k(tape_[in].shape, K), ShapeError,
                 std::string("backward of ") + e.node->name() + " returned gradient " + shape_str(g.shape()) +
                     " for input " + std::to_string(i) + ", expected " + shape_str(fold_k(tape_[in].shape, K)));
        grads[in] = grads[in].defined() ? backend_.add(grads[in], g) : g;
      }
    }
    if (!keep[id]) grads[id] = Tensor();  // free as soon as it has been propagated
  }
}

std::vector<Tensor> Graph::vjp(const Var& y, const Tensor& cot, const std::vector<Var>& wrt, int64_t max_k) {
  check_var(y, "vjp");
  const Shape& ys = tape_[y.id].shape;
  SV_CHECK(cot.ndim() == static_cast<int>(ys.size()) + 1 && Shape(cot.shape().begin() + 1, cot.shape().end()) == ys,
           ShapeError, "vjp: cotangent shape " + shape_str(cot.shape()) + " must be (K, " +
                           shape_str(ys).substr(1));
  const int64_t K = cot.dim(0);
  // need[id]: the entry lies on a path from some wrt to y.
  std::vector<bool> need(tape_.size(), false), keep(tape_.size(), false);
  for (const Var& w : wrt) {
    check_var(w, "vjp");
    SV_CHECK(w.id <= y.id, Error, "vjp: a wrt Var was recorded after y, so y does not depend on it");
    need[w.id] = keep[w.id] = true;
  }
  for (int id = 0; id <= y.id; ++id)
    for (int in : tape_[id].inputs)
      if (in >= 0 && need[in]) need[id] = true;

  Tensor seed_all = backend_.upload(cot);
  std::vector<Tensor> out;
  for (const Var& w : wrt) {
    Shape s = tape_[w.id].shape;
    s.insert(s.begin(), K);
    out.push_back(backend_.empty(s, tape_[w.id].dtype));
  }
  const int64_t chunk = max_k > 0 ? max_k : std::max<int64_t>(K, 1);
  std::vector<Tensor> grads;
  for (int64_t k0 = 0; k0 < K; k0 += chunk) {
    int64_t k1 = std::min(K, k0 + chunk), kc = k1 - k0;
    Tensor seed = seed_all.slice0(k0, k1).reshape(fold_k(ys, kc));
    run_backward(y.id, seed, kc, need, keep, grads);
    for (size_t j = 0; j < wrt.size(); ++j) {
      Tensor dst = out[j].slice0(k0, k1);
      const Tensor& g = grads[wrt[j].id];
      if (g.defined()) {
        Tensor src = g.reshape(dst.shape());
        backend_.copy_(dst, src);
      } else {
        Tensor z = backend_.zeros(dst.shape(), dst.dtype());
        backend_.copy_(dst, z);
      }
    }
  }
  return out;
}

void Graph::backward(const Var& loss) {
  check_var(loss, "backward");
  SV_CHECK(tape_[loss.id].shape.empty() || shape_numel(tape_[loss.id].shape) == 1, ShapeError,
           "backward: loss must be a scalar, got shape " + shape_str(tape_[loss.id].shape));
  std::vector<bool> need(tape_.size());
  for (size_t i = 0; i < tape_.size(); ++i) need[i] = tape_[i].requires_grad;
  Tensor one = backend_.upload(Tensor::full(fold_k(tape_[loss.id].shape, 1), 1.0, tape_[loss.id].dtype));
  std::vector<bool> keep(tape_.size());
  for (size_t i = 0; i < tape_.size(); ++i) keep[i] = tape_[i].param != nullptr;
  std::vector<Tensor> grads;
  run_backward(loss.id, one, 1, need, keep, grads);
  for (size_t id = 0; id < tape_.size(); ++id) {
    Param* p = tape_[id].param;
    if (!p || !grads[id].defined()) continue;
    Tensor g = grads[id].reshape(p->value.shape());
    if (!p->grad.defined()) {
      p->grad = backend_.zeros(p->value.shape(), p->value.dtype());
    }
    backend_.axpy_(p->grad, g, 1.0);
  }
}

}  // namespace sv
