// `sharedvis train`: trains the bundled Fashion-MNIST classifier (fmnist_cnn) from scratch
// and writes it as a model file. `sharedvis eval`: top-1 accuracy of a model file on the
// Fashion-MNIST test set.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <sstream>

#include "apps/commands.h"
#include "apps/dataset.h"
#include "weights/atomic_file.h"
#include "apps/train.h"
#include "backends/factory.h"
#include "weights/bundled_model.h"
#include "weights/model.h"

namespace sv {

namespace {
constexpr const char* kArch = "fmnist_cnn";

void check_dataset(const std::string& name) {
  SV_CHECK(name == "fashion-mnist", ValueError, "unknown dataset '" + name + "' (expected fashion-mnist)");
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const std::string& x : v) s += (s.empty() ? "" : ",") + x;
  return s;
}

std::string fmt(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

struct TrainArgs {
  std::string dataset, data_dir = kFashionMnistDir, out;
  int64_t limit = 0;
  int threads = 0;
  std::string augment = "none";
  TrainOptions opt;
};

void run_train(const TrainArgs& a, const std::string& command_line) {
  check_dataset(a.dataset);
  check_output_path(a.out);
  const auto t0 = std::chrono::steady_clock::now();
  Model m;
  m.info.arch = kArch;
  m.info.in_channels = 1;
  m.info.num_classes = static_cast<int>(fashion_mnist_classes().size());
  m.info.input_size = 28;
  m.info.resize_size = 28;
  m.info.mean = {kFashionMnistMean};
  m.info.std = {kFashionMnistStd};
  m.net = build_arch(kArch, m.info.num_classes, m.info.in_channels);
  init_params(*m.net, a.opt.seed);

  Dataset train = load_fashion_mnist(a.data_dir, true, a.limit);
  Dataset test = load_fashion_mnist(a.data_dir, false);
  std::printf("train: %lld images, test: %lld images, %s\n", static_cast<long long>(train.size()),
              static_cast<long long>(test.size()), a.data_dir.c_str());

  auto be = make_cpu_backend(false, a.threads);
  TrainOptions opt = a.opt;
  opt.crop_pad = a.augment.find("crop") != std::string::npos ? 2 : 0;
  opt.hflip = a.augment.find("flip") != std::string::npos;
  opt.background = -kFashionMnistMean / kFashionMnistStd;  // a black pixel, normalized
  std::printf("%s on %s: %d epochs, batch %d, peak lr %g, seed %llu, augment %s\n", kArch,
              be->name().c_str(), opt.epochs, opt.batch, opt.lr, static_cast<unsigned long long>(opt.seed),
              a.augment.c_str());
  std::fflush(stdout);
  auto stats = train_classifier(*m.net, *be, train, &test, opt, [&](const EpochStats& s) {
    std::printf("epoch %d/%d  loss %.4f  train_acc %.4f  test_acc %.4f  lr %.4g  %.1f s\n", s.epoch, opt.epochs,
                s.train_loss, s.train_acc, s.test_acc, s.lr, s.seconds);
    std::fflush(stdout);
  });
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  m.info.metadata["classes"] = join(train.classes);
  m.info.metadata["dataset"] = "fashion-mnist";
  m.info.metadata["train_command"] = command_line;
  m.info.metadata["train_images"] = std::to_string(train.size());
  m.info.metadata["test_accuracy"] = fmt(stats.back().test_acc, 4);
  m.info.metadata["train_seconds"] = fmt(seconds, 1);
  m.info.metadata["train_backend"] = be->name();
  save_model(m, a.out);
  std::printf("wrote %s (test accuracy %.4f, %.1f s in all)\n", a.out.c_str(), stats.back().test_acc, seconds);
}

struct EvalArgs {
  std::string model, dataset, data_dir = kFashionMnistDir, split = "test", device = "auto";
  int64_t limit = 0;
  int batch = 500;
};

void run_eval(const EvalArgs& a) {
  check_dataset(a.dataset);
  SV_CHECK(a.split == "test" || a.split == "train", ValueError, "--split must be test or train, got " + a.split);
  const std::string path = a.model.empty() ? bundled_model_path() : a.model;
  Model m = load_model(path);
  SV_CHECK(m.info.in_channels == 1 && m.info.input_size == 28, ValueError,
           path + ": a Fashion-MNIST model takes 1x28x28 input, this one takes " + std::to_string(m.info.in_channels) +
               "x" + std::to_string(m.info.input_size) + "x" + std::to_string(m.info.input_size));
  SV_CHECK(m.info.num_classes == 10, ValueError,
           path + ": a Fashion-MNIST model has 10 classes, this one has " + std::to_string(m.info.num_classes));
  SV_CHECK(m.info.mean.size() == 1 && m.info.std.size() == 1, ValueError,
           path + ": expected one mean and one std for a grayscale model");
  Dataset d = load_fashion_mnist(a.data_dir, a.split == "train", a.limit, m.info.mean[0], m.info.std[0]);
  auto be = make_backend(a.device);
  m.net->to(*be);
  const double acc = evaluate_accuracy(*m.net, *be, d, a.batch);
  std::fprintf(stderr, "%s on %lld %s images of %s (%s)\n", path.c_str(), static_cast<long long>(d.size()),
               a.split.c_str(), a.data_dir.c_str(), be->name().c_str());
  std::printf("accuracy %.4f\n", acc);
}
}  // namespace

void add_train_command(CLI::App& app) {
  auto a = std::make_shared<TrainArgs>();
  auto* c = app.add_subcommand("train", "Train the Fashion-MNIST classifier (fmnist_cnn) from scratch");
  c->add_option("--dataset", a->dataset, "Data set (fashion-mnist)")->required();
  c->add_option("--data-dir", a->data_dir, "Folder of the IDX files")->capture_default_str();
  c->add_option("--out", a->out, "Model file to write (.safetensors)")->required();
  c->add_option("--epochs", a->opt.epochs, "Passes over the training set")->capture_default_str()->check(
      CLI::PositiveNumber);
  c->add_option("--batch", a->opt.batch, "Minibatch size")->capture_default_str()->check(CLI::Range(2, 1 << 16));
  c->add_option("--lr", a->opt.lr, "Peak learning rate (one-cycle schedule, SGD with momentum 0.9)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  c->add_option("--weight-decay", a->opt.weight_decay, "L2 weight decay on conv and linear weights")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  c->add_option("--seed", a->opt.seed, "Seed of initialization, shuffling, augmentation and dropout")
      ->capture_default_str();
  c->add_option("--limit", a->limit, "Train on the first N images only (smoke tests); 0: all")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  c->add_option("--augment", a->augment, "Augmentation: none, flip, crop (pad 2) or crop+flip")
      ->capture_default_str()
      ->check(CLI::IsMember({"none", "flip", "crop", "crop+flip"}));
  c->add_option("--threads", a->threads, "CPU threads; 0: all cores")->capture_default_str()->check(
      CLI::NonNegativeNumber);
  c->add_flag("!--no-progress", a->opt.progress, "No live progress line");
  c->callback([a] {
    std::ostringstream cmd;
    cmd << "sharedvis train";
    for (const auto& [flag, value] :
         std::vector<std::pair<std::string, std::string>>{{"--dataset", a->dataset},
                                                          {"--epochs", std::to_string(a->opt.epochs)},
                                                          {"--batch", std::to_string(a->opt.batch)},
                                                          {"--lr", fmt(a->opt.lr, 4)},
                                                          {"--weight-decay", fmt(a->opt.weight_decay, 6)},
                                                          {"--seed", std::to_string(a->opt.seed)}})
      cmd << " " << flag << " " << value;
    if (a->limit > 0) cmd << " --limit " << a->limit;
    cmd << " --augment " << a->augment;
    run_train(*a, cmd.str());
  });
}

void add_eval_command(CLI::App& app) {
  auto a = std::make_shared<EvalArgs>();
  auto* c = app.add_subcommand("eval", "Top-1 accuracy of a model on the Fashion-MNIST test set");
  c->add_option("--model", a->model, "Model file (default: the bundled fmnist_cnn)");
  c->add_option("--dataset", a->dataset, "Data set (fashion-mnist)")->required();
  c->add_option("--data-dir", a->data_dir, "Folder of the IDX files")->capture_default_str();
  c->add_option("--split", a->split, "test or train")->capture_default_str();
  c->add_option("--limit", a->limit, "Evaluate the first N images only; 0: all")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  c->add_option("--batch", a->batch, "Images per forward pass")->capture_default_str()->check(CLI::PositiveNumber);
  c->add_option("--device", a->device, "cpu, cuda or auto")->capture_default_str();
  c->callback([a] { run_eval(*a); });
}

}  // namespace sv
