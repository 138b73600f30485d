// Training (apps/train.h) and the train / eval commands (apps/cmd_train.cpp): a smoke
// run on a small subset of Fashion-MNIST, determinism given the seed, and the accuracy
// of the bundled model. Tests that need the data set skip, saying why, without it.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <random>

#include "apps/dataset.h"
#include "apps/train.h"
#include "backends/factory.h"
#include "weights/model.h"

namespace sv::test {
namespace {

namespace fs = std::filesystem;

bool have_fashion_mnist() {
  return fs::exists(fs::path(kFashionMnistDir) / "train-images-idx3-ubyte.gz") &&
         fs::exists(fs::path(kFashionMnistDir) / "t10k-images-idx3-ubyte.gz");
}
#define SKIP_WITHOUT_FASHION_MNIST() \
  if (!have_fashion_mnist())         \
  GTEST_SKIP() << "Fashion-MNIST is not installed in " << kFashionMnistDir << " (apt install dataset-fashion-mnist)"

// Runs a command; returns its exit status and stdout.
int run(const std::string& cmd, std::string& out) {
  out.clear();
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return -1;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  return pclose(p);
}

std::string temp_path(const std::string& name) {
  std::random_device rd;
  return (fs::temp_directory_path() / ("sv_train_" + std::to_string(rd()) + "_" + name)).string();
}

std::unique_ptr<Module> fresh_net(uint64_t seed) {
  auto net = build_arch("fmnist_cnn", 10, 1);
  init_params(*net, seed);
  return net;
}

TEST(Train, LossDecreasesOnASubset) {
  SKIP_WITHOUT_FASHION_MNIST();
  Dataset train = load_fashion_mnist(kFashionMnistDir, true, 512);
  Dataset test = load_fashion_mnist(kFashionMnistDir, false, 256);
  auto be = make_cpu_backend();
  auto net = fresh_net(7);
  TrainOptions opt;
  opt.epochs = 3;
  opt.batch = 64;
  opt.seed = 7;
  opt.progress = false;
  opt.background = -kFashionMnistMean / kFashionMnistStd;
  std::vector<EpochStats> st = train_classifier(*net, *be, train, &test, opt);
  ASSERT_EQ(st.size(), 3u);
  for (const EpochStats& s : st) EXPECT_TRUE(std::isfinite(s.train_loss));
  EXPECT_GT(st[0].train_loss, 1.0);  // starts near log(10) = 2.3
  EXPECT_LT(st[2].train_loss, 0.8 * st[0].train_loss);
  EXPECT_GT(st[2].test_acc, 0.5);    // 10 classes: chance is 0.1
  EXPECT_NEAR(st[2].lr, 0.0, 1e-3);  // the schedule ends at zero
}

TEST(Train, SameSeedSameModel) {
  SKIP_WITHOUT_FASHION_MNIST();
  Dataset train = load_fashion_mnist(kFashionMnistDir, true, 128);
  TrainOptions opt;
  opt.epochs = 1;
  opt.batch = 32;
  opt.progress = false;
  opt.crop_pad = 2;  // augmentation draws from the seeded RNG too
  opt.hflip = true;
  std::vector<std::vector<float>> runs;
  for (uint64_t seed : {3, 3, 4}) {
    auto be = make_cpu_backend(false, 1);
    auto net = fresh_net(seed);
    opt.seed = seed;
    train_classifier(*net, *be, train, nullptr, opt);
    std::vector<float> all;
    for (auto& [name, p] : net->state()) {
      std::vector<float> v = p->value.to_vector();
      all.insert(all.end(), v.begin(), v.end());
    }
    runs.push_back(all);
  }
  EXPECT_EQ(runs[0], runs[1]);
  EXPECT_NE(runs[0], runs[2]);
}

TEST(Train, RejectsBadOptions) {
  Dataset d;
  d.images = Tensor::zeros({4, 1, 28, 28});
  d.labels = Tensor::zeros({4}, DType::I32);
  auto be = make_cpu_backend();
  auto net = fresh_net(1);
  TrainOptions opt;
  opt.progress = false;
  opt.lr = -1;
  EXPECT_THROW(train_classifier(*net, *be, d, nullptr, opt), ValueError);
  opt.lr = 0.1;
  opt.epochs = 0;
  EXPECT_THROW(train_classifier(*net, *be, d, nullptr, opt), ValueError);
}

TEST(TrainCommand, SmokeRunWritesALoadableModel) {
  SKIP_WITHOUT_FASHION_MNIST();
  const std::string out = temp_path("smoke.safetensors");
  std::string log;
  const int rc =
      run(std::string(SHAREDVIS_CLI) +
              " train --dataset fashion-mnist --limit 512 --epochs 1 --batch 64 --seed 5 --no-progress --out " + out,
          log);
  ASSERT_EQ(rc, 0) << log;
  EXPECT_NE(log.find("epoch 1/1"), std::string::npos) << log;
  Model m = load_model(out);
  EXPECT_EQ(m.info.arch, "fmnist_cnn");
  EXPECT_EQ(m.info.in_channels, 1);
  EXPECT_EQ(m.info.num_classes, 10);
  EXPECT_EQ(m.info.input_size, 28);
  ASSERT_EQ(m.info.mean.size(), 1u);
  EXPECT_FLOAT_EQ(m.info.mean[0], kFashionMnistMean);
  EXPECT_FLOAT_EQ(m.info.std[0], kFashionMnistStd);
  EXPECT_EQ(m.info.metadata.at("classes"),
            "T-shirt/top,Trouser,Pullover,Dress,Coat,Sandal,Shirt,Sneaker,Bag,Ankle boot");
  EXPECT_NE(m.info.metadata.at("train_command").find("--seed 5"), std::string::npos);

  // eval reads it back through the CLI too
  ASSERT_EQ(run(std::string(SHAREDVIS_CLI) + " eval --dataset fashion-mnist --limit 200 --model " + out, log), 0)
      << log;
  EXPECT_NE(log.find("accuracy 0."), std::string::npos) << log;
  fs::remove(out);
}

TEST(TrainCommand, UsageErrors) {
  std::string log;
  EXPECT_NE(run(std::string(SHAREDVIS_CLI) + " train --dataset mnist --out " + temp_path("x.safetensors"), log), 0);
  EXPECT_NE(log.find("unknown dataset 'mnist'"), std::string::npos) << log;
  EXPECT_NE(
      run(std::string(SHAREDVIS_CLI) + " train --dataset fashion-mnist --out /nonexistent-dir/m.safetensors", log), 0);
  const std::string missing = temp_path("missing.safetensors");
  EXPECT_NE(run(std::string(SHAREDVIS_CLI) + " eval --dataset fashion-mnist --model " + missing, log), 0);
  EXPECT_NE(log.find(missing), std::string::npos) << log;
  EXPECT_NE(run(std::string(SHAREDVIS_CLI) + " eval --dataset fashion-mnist --data-dir /nonexistent-dir --model " +
                    std::string(SHAREDVIS_SOURCE_DIR) + "/weights/fmnist_cnn.safetensors",
                log),
            0);
  EXPECT_NE(log.find("/nonexistent-dir"), std::string::npos) << log;
}

TEST(BundledModel, AccuracyOnTheFirst2000TestImages) {
  SKIP_WITHOUT_FASHION_MNIST();
  const std::string model = std::string(SHAREDVIS_SOURCE_DIR) + "/weights/fmnist_cnn.safetensors";
  ASSERT_TRUE(fs::exists(model)) << model << " is missing";
  std::string log;
  ASSERT_EQ(run(std::string(SHAREDVIS_CLI) + " eval --dataset fashion-mnist --limit 2000 --model " + model, log), 0)
      << log;
  const size_t at = log.find("accuracy ");
  ASSERT_NE(at, std::string::npos) << log;
  const double acc = std::stod(log.substr(at + 9));
  EXPECT_GE(acc, 0.9) << log;
}

}  // namespace
}  // namespace sv::test
