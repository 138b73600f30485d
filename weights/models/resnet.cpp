// ResNet 18/34/50/101/152 as in torchvision (models/resnet.py, v1.5: the stride of a
// downsampling Bottleneck is on its 3x3 convolution), module names and all:
//   conv1 7x7/2 (no bias), bn1, relu, maxpool 3/2 pad 1   (N,3,224,224) -> (N,64,56,56)
//   layer1..layer4 of blocks, strides 1,2,2,2             -> (N,512*e,7,7), e = 1 or 4
//   avgpool AdaptiveAvgPool2d(1, 1), (flatten), fc          -> (N,512*e) -> (N,classes)
// BasicBlock (e = 1): conv1 3x3/s, bn1, relu, conv2 3x3, bn2, + identity, relu.
// Bottleneck (e = 4): conv1 1x1, bn1, relu, conv2 3x3/s, bn2, relu, conv3 1x1, bn3, + identity, relu.
// identity is x, or downsample(x) = Sequential(conv 1x1/s, bn) when the shape changes.
// A block's `relu` runs more than once (as in torchvision); as a layer, its first output is captured.
#include <initializer_list>

#include "weights/models/archs.h"

namespace sv {

namespace {

std::unique_ptr<Module> conv(int in, int out, int k, int stride, int pad) {
  Conv2dParams p;
  p.stride_h = p.stride_w = stride;
  p.pad_h = p.pad_w = pad;
  return std::make_unique<Conv2d>(in, out, k, p, false);
}

// The residual blocks share one forward: the main path `steps` (children by name), the
// identity (downsample when present), the sum, and the block's relu (one add_relu op when
// the Forward fuses).
class Block : public Module {
 public:
  Block(const char* kind, std::initializer_list<const char*> steps) : kind_(kind), steps_(steps) {}
  const char* kind() const override { return kind_; }

  Var forward(const Var& x, Forward& fw) override {
    std::vector<Forward::Step> steps;
    for (const char* s : steps_) steps.push_back({s, child(s)});
    Var y = fw.call_steps(steps, x);
    if (fw.done()) return y;
    Var identity = x;
    if (Module* d = child("downsample")) {
      identity = fw.call(*d, "downsample", x);
      if (fw.done()) return identity;
    }
    Module& relu = *child("relu");
    if (fw.fusing() && dynamic_cast<ReLU*>(&relu))  // the sum and the ReLU in one pass
      return fw.call_as("relu", [&] { return sv::add_relu(std::move(y), identity); });
    return fw.call(relu, "relu", sv::add(y, identity));
  }

 private:
  const char* kind_;
  std::vector<const char*> steps_;
};

std::unique_ptr<Module> downsample(int in, int out, int stride) {
  auto d = std::make_unique<Sequential>();
  d->push(conv(in, out, 1, stride, 0));
  d->push(std::make_unique<BatchNorm2d>(out));
  return d;
}

// (N,in,H,W) -> (N,planes,H/s,W/s)
std::unique_ptr<Module> basic_block(int in, int planes, int stride) {
  auto b = std::make_unique<Block>("BasicBlock", std::initializer_list<const char*>{"conv1", "bn1", "relu", "conv2", "bn2"});
  b->add("conv1", conv(in, planes, 3, stride, 1));
  b->add("bn1", std::make_unique<BatchNorm2d>(planes));
  b->add("relu", std::make_unique<ReLU>());
  b->add("conv2", conv(planes, planes, 3, 1, 1));
  b->add("bn2", std::make_unique<BatchNorm2d>(planes));
  if (stride != 1 || in != planes) b->add("downsample", downsample(in, planes, stride));
  return b;
}

// (N,in,H,W) -> (N,4*planes,H/s,W/s)
std::unique_ptr<Module> bottleneck(int in, int planes, int stride) {
  auto b = std::make_unique<Block>(
      "Bottleneck",
      std::initializer_list<const char*>{"conv1", "bn1", "relu", "conv2", "bn2", "relu", "conv3", "bn3"});
  b->add("conv1", conv(in, planes, 1, 1, 0));
  b->add("bn1", std::make_unique<BatchNorm2d>(planes));
  b->add("conv2", conv(planes, planes, 3, stride, 1));
  b->add("bn2", std::make_unique<BatchNorm2d>(planes));
  b->add("conv3", conv(planes, 4 * planes, 1, 1, 0));
  b->add("bn3", std::make_unique<BatchNorm2d>(4 * planes));
  b->add("relu", std::make_unique<ReLU>());
  if (stride != 1 || in != 4 * planes) b->add("downsample", downsample(in, 4 * planes, stride));
  return b;
}

}  // namespace

std::unique_ptr<Module> resnet(int depth, int num_classes, int in_channels, int width) {
  std::vector<int> blocks;
  switch (depth) {
    case 18: blocks = {2, 2, 2, 2}; break;
    case 34: blocks = {3, 4, 6, 3}; break;
    case 50: blocks = {3, 4, 6, 3}; break;
    case 101: blocks = {3, 4, 23, 3}; break;
    case 152: blocks = {3, 8, 36, 3}; break;
    default: throw ValueError("resnet: depth must be 18, 34, 50, 101 or 152, got " + std::to_string(depth));
  }
  SV_CHECK(width > 0, ValueError, "resnet: width must be positive, got " + std::to_string(width));
  const bool bottlenecks = depth >= 50;
  const int expansion = bottlenecks ? 4 : 1;

  auto net = std::make_unique<ImageClassifier>("fc");
  net->add("conv1", conv(in_channels, width, 7, 2, 3));
  net->add("bn1", std::make_unique<BatchNorm2d>(width));
  net->add("relu", std::make_unique<ReLU>());
  Pool2dParams mp;
  mp.kernel_h = mp.kernel_w = 3;
  mp.stride_h = mp.stride_w = 2;
  mp.pad_h = mp.pad_w = 1;
  net->add("maxpool", std::make_unique<MaxPool2d>(mp));
  int in = width;
  for (int i = 0; i < 4; ++i) {
    const int planes = width << i;
    auto layer = std::make_unique<Sequential>();
    for (int j = 0; j < blocks[i]; ++j) {
      const int stride = (i > 0 && j == 0) ? 2 : 1;
      layer->push(bottlenecks ? bottleneck(in, planes, stride) : basic_block(in, planes, stride));
      in = planes * expansion;
    }
    net->add("layer" + std::to_string(i + 1), std::move(layer));
  }
  net->add("avgpool", std::make_unique<AdaptiveAvgPool2d>(1, 1));
  net->add("fc", std::make_unique<Linear>(8 * width * expansion, num_classes));
  return net;
}

}  // namespace sv
