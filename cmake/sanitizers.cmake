# Sanitizer and fuzzing builds (clang only; CUDA off: device code is not instrumented).
#   SHAREDVIS_SANITIZE=ON  every target (library, CLI, tests) with AddressSanitizer and
#                          UndefinedBehaviorSanitizer (float-cast-overflow included); any
#                          report aborts the process, so a test that triggers one fails.
#   SHAREDVIS_FUZZ=ON      the same sanitizers, plus libFuzzer's coverage instrumentation
#                          on every target (-fsanitize=fuzzer-no-link) and the fuzz/ targets
#                          linked with libFuzzer (-fsanitize=fuzzer).
# Both can be on in one build directory: the tests then link the coverage hooks' no-op
# defaults from the sanitizer runtime, and CI compiles the project once for both.
# Debian 12: apt install clang libclang-rt-14-dev llvm (llvm-symbolizer for stack traces).
if(NOT (SHAREDVIS_SANITIZE OR SHAREDVIS_FUZZ))
  return()
endif()
if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  message(FATAL_ERROR "SHAREDVIS_SANITIZE / SHAREDVIS_FUZZ need clang: configure with "
                      "-DCMAKE_CXX_COMPILER=clang++ (apt: clang libclang-rt-14-dev)")
endif()
if(SHAREDVIS_HAVE_CUDA)
  message(FATAL_ERROR "SHAREDVIS_SANITIZE / SHAREDVIS_FUZZ build the host code only: add -DSHAREDVIS_CUDA=OFF")
endif()

set(SHAREDVIS_SANITIZER_FLAGS
    -fsanitize=address,undefined -fsanitize=float-cast-overflow -fno-sanitize-recover=all
    -fno-omit-frame-pointer -gline-tables-only)
if(SHAREDVIS_FUZZ)
  list(APPEND SHAREDVIS_SANITIZER_FLAGS -fsanitize=fuzzer-no-link)
endif()
add_compile_options("$<$<COMPILE_LANGUAGE:CXX>:${SHAREDVIS_SANITIZER_FLAGS}>")
add_link_options(-fsanitize=address,undefined)
message(STATUS "sharedvis: sanitizers on (${SHAREDVIS_SANITIZER_FLAGS})")
