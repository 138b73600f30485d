// The training loop of `sharedvis train`: batches, augmentation, SGD, schedule, progress.
#include "apps/train.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <random>
#include <string>

#include "layers/optim.h"

namespace sv {

namespace {
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Uniform integer in [0, n): mt19937_64 is specified bit for bit by the standard, the
// distributions are not, so we reduce by hand to keep runs identical across libraries.
uint64_t below(std::mt19937_64& rng, uint64_t n) { return rng() % n; }

std::vector<int64_t> shuffled(int64_t n, std::mt19937_64& rng) {
  std::vector<int64_t> idx(static_cast<size_t>(n));
  std::iota(idx.begin(), idx.end(), int64_t{0});
  for (int64_t i = n - 1; i > 0; --i) std::swap(idx[i], idx[below(rng, static_cast<uint64_t>(i + 1))]);
  return idx;
}

// Gathers images idx[0..B) into one batch (B, C, H, W), each randomly shifted by up to
// crop_pad pixels (the crop of a padded copy) and flipped left-right with probability 1/2.
Tensor make_batch(const Dataset& d, const int64_t* idx, int64_t B, const TrainOptions& opt, std::mt19937_64& rng,
                  Tensor& labels) {
  const int64_t C = d.images.dim(1), H = d.images.dim(2), W = d.images.dim(3), P = C * H * W;
  Tensor x = Tensor::empty({B, C, H, W});
  labels = Tensor::empty({B}, DType::I32);
  const float* src = d.images.data<float>();
  const int32_t* lab = d.labels.data<int32_t>();
  float* dst = x.data<float>();
  const int pad = opt.crop_pad;
  for (int64_t b = 0; b < B; ++b) {
    labels.data<int32_t>()[b] = lab[idx[b]];
    const float* s = src + idx[b] * P;
    float* o = dst + b * P;
    const int64_t dy = pad > 0 ? static_cast<int64_t>(below(rng, 2 * pad + 1)) - pad : 0;
    const int64_t dx = pad > 0 ? static_cast<int64_t>(below(rng, 2 * pad + 1)) - pad : 0;
    const bool flip = opt.hflip && below(rng, 2) == 1;
    for (int64_t c = 0; c < C; ++c)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t w = 0; w < W; ++w) {
          const int64_t sh = h + dy, sw = (flip ? W - 1 - w : w) + dx;
          o[(c * H + h) * W + w] =
              (sh < 0 || sh >= H || sw < 0 || sw >= W) ? opt.background : s[(c * H + sh) * W + sw];
        }
  }
  return x;
}

// Index of the largest logit of each row of a host (N, classes) tensor.
std::vector<int32_t> argmax_rows(const Tensor& logits) {
  const int64_t N = logits.dim(0), K = logits.dim(1);
  const Tensor l = logits.to(DType::F32);
  const float* p = l.data<float>();
  std::vector<int32_t> out(static_cast<size_t>(N));
  for (int64_t i = 0; i < N; ++i) out[i] = static_cast<int32_t>(std::max_element(p + i * K, p + (i + 1) * K) - (p + i * K));
  return out;
}

int64_t count_correct(const Tensor& logits, const Tensor& labels) {
  const std::vector<int32_t> pred = argmax_rows(logits);
  int64_t n = 0;
  for (size_t i = 0; i < pred.size(); ++i) n += pred[i] == labels.data<int32_t>()[i];
  return n;
}

// One-cycle: linear warm-up from peak/25 to peak over the first `warmup` fraction of the
// steps, then cosine decay to 0.
double lr_at(int64_t step, int64_t total, const TrainOptions& opt) {
  const int64_t warm = std::max<int64_t>(1, static_cast<int64_t>(std::llround(opt.warmup * static_cast<double>(total))));
  if (step < warm) return opt.lr * (0.04 + 0.96 * static_cast<double>(step + 1) / static_cast<double>(warm));
  const double t = static_cast<double>(step - warm) / static_cast<double>(std::max<int64_t>(1, total - warm));
  return opt.lr * 0.5 * (1.0 + std::cos(M_PI * t));
}

// SGD with momentum (layers/optim.h), weight decay on conv and linear weights (ndim >= 2)
// only: two optimizers over disjoint parameter sets, stepped with one learning rate.
class DecayedSgd {
 public:
  DecayedSgd(Module& net, const TrainOptions& opt)
      : decayed_(select(net, true), {opt.lr, opt.momentum, opt.weight_decay}),
        plain_(select(net, false), {opt.lr, opt.momentum, 0.0}) {}
  void zero_grad() {
    decayed_.zero_grad();
    plain_.zero_grad();
  }
  void step(double lr) {
    decayed_.options.lr = plain_.options.lr = lr;
    decayed_.step();
    plain_.step();
  }

 private:
  static std::vector<Param*> select(Module& net, bool decay) {
    std::vector<Param*> out;
    for (Param* p : net.parameters())
      if ((p->value.ndim() >= 2) == decay) out.push_back(p);
    return out;
  }
  Sgd decayed_, plain_;
};


std::string mmss(double s) {
  const long t = std::lround(std::max(0.0, s));
  char buf[32];
  std::snprintf(buf, sizeof buf, "%ld:%02ld", t / 60, t % 60);
  return buf;
}

// The live progress line: rewritten in place on a terminal, at most 4 times a second.
class Progress {
 public:
  Progress(bool enabled, int64_t total_steps)
      : on_(enabled && isatty(fileno(stderr))), total_(total_steps), t0_(Clock::now()) {}
  void update(int epoch, int epochs, int64_t step, int64_t epoch_step, int64_t epoch_steps, int64_t images,
              double loss, double acc) {
    if (!on_ || seconds_since(last_) < 0.25) return;
    last_ = Clock::now();
    const double el = seconds_since(t0_);
    const double rate = static_cast<double>(images) / std::max(el, 1e-9);
    const double left = el / static_cast<double>(step) * static_cast<double>(total_ - step);
    const int width = 24, fill = static_cast<int>(width * epoch_step / std::max<int64_t>(1, epoch_steps));
    std::fprintf(stderr, "\r\033[Kepoch %d/%d [%s%s] %lld/%lld  loss %.4f  acc %.4f  %.0f img/s  elapsed %s  left %s",
                 epoch, epochs, std::string(fill, '#').c_str(), std::string(width - fill, '.').c_str(),
                 static_cast<long long>(epoch_step), static_cast<long long>(epoch_steps), loss, acc, rate,
                 mmss(el).c_str(), mmss(left).c_str());
    std::fflush(stderr);
  }
  void clear() {
    if (on_) std::fprintf(stderr, "\r\033[K");
  }

 private:
  bool on_;
  int64_t total_;
  Clock::time_point t0_, last_{};
};
}  // namespace

void seed_dropout(Module& net, uint64_t seed) {
  uint64_t k = 0;
  std::vector<Module*> stack{&net};
  while (!stack.empty()) {
    Module* m = stack.back();
    stack.pop_back();
    if (auto* d = dynamic_cast<Dropout*>(m)) d->seed = seed * 0x9E3779B97F4A7C15ULL + (++k) * 0x100000000ULL;
    for (auto it = m->children().rbegin(); it != m->children().rend(); ++it) stack.push_back(it->second.get());
  }
}

double evaluate_accuracy(Module& net, Backend& be, const Dataset& data, int batch) {
  SV_CHECK(data.size() > 0, ValueError, "evaluate: empty data set");
  SV_CHECK(batch > 0, ValueError, "evaluate: batch must be positive");
  net.invalidate_tree();
  int64_t correct = 0;
  for (int64_t b = 0; b < data.size(); b += batch) {
    const int64_t e = std::min<int64_t>(data.size(), b + batch);
    Graph g(be, false);
    Forward fw(g);
    Var logits = net.forward(g.input(data.images.slice0(b, e)), fw);
    SV_CHECK(logits.value.ndim() == 2, ShapeError,
             "evaluate: the model's output is " + shape_str(logits.shape()) + ", expected (N, classes)");
    correct += count_correct(be.download(logits.value), data.labels.slice0(b, e));
  }
  return static_cast<double>(correct) / static_cast<double>(data.size());
}

std::vector<EpochStats> train_classifier(Module& net, Backend& be, const Dataset& train, const Dataset* test,
                                         const TrainOptions& opt,
                                         const std::function<void(const EpochStats&)>& on_epoch) {
  SV_CHECK(be.device() == Device::CPU, ValueError, "train: training runs on the CPU backend");
  SV_CHECK(train.size() >= 2, ValueError, "train: need at least 2 training images");
  SV_CHECK(opt.epochs > 0 && opt.batch >= 2, ValueError, "train: epochs must be positive and batch at least 2");
  SV_CHECK(opt.lr > 0, ValueError, "train: the learning rate must be positive");
  SV_CHECK(opt.crop_pad >= 0, ValueError, "train: crop padding must be non-negative");
  const int64_t N = train.size();
  const int64_t B = std::min<int64_t>(opt.batch, N);
  const int64_t steps_per_epoch = N / B;  // the last incomplete batch is dropped
  const int64_t total = steps_per_epoch * opt.epochs;

  seed_dropout(net, opt.seed);
  DecayedSgd sgd(net, opt);
  Progress progress(opt.progress, total);
  std::vector<EpochStats> out;
  int64_t step = 0, images = 0;
  for (int epoch = 1; epoch <= opt.epochs; ++epoch) {
    const Clock::time_point t0 = Clock::now();
    std::mt19937_64 rng(opt.seed * 1000003ULL + static_cast<uint64_t>(epoch));
    const std::vector<int64_t> order = shuffled(N, rng);
    double loss_sum = 0;
    int64_t correct = 0, seen = 0;
    double lr = 0;
    for (int64_t s = 0; s < steps_per_epoch; ++s, ++step) {
      Tensor labels;
      Tensor x = make_batch(train, order.data() + s * B, B, opt, rng, labels);
      lr = lr_at(step, total, opt);
      Graph g(be, true);
      g.set_training(true);
      Forward fw(g);
      Var logits = net.forward(g.input(x), fw);
      Var loss = cross_entropy(logits, labels);
      sgd.zero_grad();
      g.backward(loss);
      sgd.step(lr);

      const double l = be.download(loss.value).item(0);
      SV_CHECK(std::isfinite(l), Error,
               "train: the loss became " + std::to_string(l) + " at epoch " + std::to_string(epoch) + ", step " +
                   std::to_string(s) + " (try a smaller --lr)");
      loss_sum += l * static_cast<double>(B);
      correct += count_correct(be.download(logits.value), labels);
      seen += B;
      images += B;
      progress.update(epoch, opt.epochs, step + 1, s + 1, steps_per_epoch, images, loss_sum / seen,
                      static_cast<double>(correct) / seen);
    }
    net.invalidate_tree();
    EpochStats st;
    st.epoch = epoch;
    st.train_loss = loss_sum / static_cast<double>(seen);
    st.train_acc = static_cast<double>(correct) / static_cast<double>(seen);
    st.lr = lr;
    if (test && test->size() > 0) st.test_acc = evaluate_accuracy(net, be, *test, opt.eval_batch);
    st.seconds = seconds_since(t0);
    progress.clear();
    out.push_back(st);
    if (on_epoch) on_epoch(st);
  }
  return out;
}

}  // namespace sv
