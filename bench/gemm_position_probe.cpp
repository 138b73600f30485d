// gemm_position_probe: is an image's SGEMM output bitwise independent of where it sits in
// a call (its slot) and of how many images the call holds? The evidence behind pixel rows
// in backends/cpu/fast_conv.cpp. Standalone, not part of the build:
//   g++ -O2 bench/gemm_position_probe.cpp -o /tmp/probe -lopenblas && /tmp/probe [time]
// For each (Og, R) shape, orientation and slot width S (49 = one 7x7 image, or padded to
// 50..64): calls of nb = 1, 2, 3, 4, 5, 8 slots, the image in every slot, the other slots
// zero or random; "invariant" = every slot of one nb gave the same bits, "same across nb"
// = every nb gave the same bits; with 1 and 2 OpenBLAS threads. `time`: ms per image.
//   NN: y (Og, L) = w (Og, R) * col (R, L)        (pixels along the columns; the old way)
//   TT: y^T (L, Og) = col^T (L, R) * w^T (R, Og)  (pixels along the rows: pixel rows)
#include <cblas.h>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>
extern "C" void openblas_set_num_threads(int);

static void run(bool tt, int M, int K, int L, const float* W, const float* col, float* C) {
  if (!tt) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, L, K, 1.f, W, K, col, L, 0.f, C, L);
  else cblas_sgemm(CblasRowMajor, CblasTrans, CblasTrans, L, M, K, 1.f, col, L, W, K, 0.f, C, M);
}
// image output (M, P) extracted from slot s
static void extract(bool tt, int M, int L, int P, int S, int s, const float* C, float* out) {
  for (int m = 0; m < M; ++m)
    for (int p = 0; p < P; ++p) out[m * P + p] = tt ? C[(s * S + p) * M + m] : C[m * L + s * S + p];
}

int main(int argc, char** argv) {
  const bool timing = argc > 1 && !strcmp(argv[1], "time");
  std::mt19937 rng(1);
  std::normal_distribution<float> nd;
  struct Shape { int M, K; const char* name; };
  const Shape shapes[] = {{512, 4608, "3x3 512->512 s2"}, {2048, 1024, "down 1024->2048"},
                          {2048, 512, "1x1 512->2048"}, {512, 2048, "1x1 2048->512"},
                          {64, 576, "small 64x576"}, {100, 300, "odd 100x300"}, {16, 27, "tiny 16x27"}, {32, 600, "cross 32x600"}, {8, 2000, "cross 8x2000"}};
  const int P = 49;
  if (timing) {
    openblas_set_num_threads(1);
    for (const Shape& sh : shapes) {
      if (sh.M < 512) continue;
      std::vector<float> W(size_t(sh.M) * sh.K);
      for (auto& v : W) v = nd(rng);
      for (int tt = 0; tt < 2; ++tt)
        for (int S : {49, 52, 56, 64})
          for (int nb : {1, 2, 4, 8}) {
            if (nb == 1 && S != 49) continue;
            const int L = S * nb;
            std::vector<float> col(size_t(sh.K) * L), C(size_t(sh.M) * L);
            for (auto& v : col) v = nd(rng);
            double best = 1e9;
            for (int r = 0; r < 5; ++r) {
              auto t0 = std::chrono::steady_clock::now();
              int reps = 0;
              do { run(tt, sh.M, sh.K, L, W.data(), col.data(), C.data()); ++reps; }
              while (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() < 0.1);
              best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / reps);
            }
            printf("%-18s %s S=%d nb=%d  %.3f ms/image\n", sh.name, tt ? "TT" : "NN", S, nb, best * 1e3 / nb);
          }
    }
    return 0;
  }
  for (int threads : {1, 2}) {
    openblas_set_num_threads(threads);
    for (const Shape& sh : shapes) {
      std::vector<float> W(size_t(sh.M) * sh.K), img(size_t(sh.K) * P);
      for (auto& v : W) v = nd(rng);
      for (auto& v : img) v = nd(rng);
      for (int tt = 0; tt < 2; ++tt)
        for (int S : {49, 50, 51, 52, 53, 54, 56, 60, 64}) {
          int bad_nb = 0, tested = 0;
          bool all_nb_same = true;
          std::vector<float> ref0;  // nb=1 result
          for (int nb : {1, 2, 3, 4, 5, 8}) {
            const int L = S * nb;
            std::vector<float> ref;
            bool ok = true;
            for (int s = 0; s < nb; ++s)
              for (int fill = 0; fill < 2; ++fill) {  // other columns: zero or random
                std::vector<float> col(size_t(sh.K) * L, 0.f), C(size_t(sh.M) * L), out(size_t(sh.M) * P);
                if (fill) for (auto& v : col) v = nd(rng);
                for (int k = 0; k < sh.K; ++k) {
                  for (int p = 0; p < P; ++p) col[size_t(k) * L + s * S + p] = img[size_t(k) * P + p];
                  for (int p = P; p < S; ++p) col[size_t(k) * L + s * S + p] = 0.f;
                }
                run(tt, sh.M, sh.K, L, W.data(), col.data(), C.data());
                extract(tt, sh.M, L, P, S, s, C.data(), out.data());
                if (ref.empty()) ref = out;
                else if (memcmp(ref.data(), out.data(), out.size() * 4)) ok = false;
                ++tested;
              }
            if (!ok) ++bad_nb;
            if (ref0.empty()) ref0 = ref;
            else if (memcmp(ref0.data(), ref.data(), ref.size() * 4)) all_nb_same = false;
          }
          printf("thr=%d %-18s %s S=%2d: %s (nb with slot-dependent bits: %d); same across nb: %s\n", threads,
                 sh.name, tt ? "TT" : "NN", S, bad_nb ? "DIFFERS" : "invariant", bad_nb, all_nb_same ? "yes" : "no");
          fflush(stdout);
        }
    }
  }
}
