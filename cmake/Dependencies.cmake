# Every dependency is a Debian bookworm package (scripts/setup.sh installs them).
find_package(Threads REQUIRED)
find_package(PkgConfig REQUIRED)
find_package(fmt REQUIRED)
find_package(spdlog REQUIRED)
find_package(CLI11 QUIET)
find_package(nlohmann_json REQUIRED)
find_package(zstd QUIET)
find_package(ZLIB REQUIRED)
pkg_check_modules(LMDB REQUIRED IMPORTED_TARGET lmdb)
pkg_check_modules(SODIUM REQUIRED IMPORTED_TARGET libsodium)
find_package(Boost 1.81 EXACT REQUIRED)
find_package(yaml-cpp REQUIRED)
find_package(prometheus-cpp REQUIRED)
find_package(Protobuf REQUIRED)
find_package(OpenSSL REQUIRED)
if(BZZZ_BUILD_TESTS)
  find_package(GTest REQUIRED)
  include(GoogleTest)
endif()
if(BZZZ_BUILD_BENCH)
  find_package(benchmark REQUIRED)
endif()

# zstd's CMake package names its target differently across versions; pkg-config is stable.
pkg_check_modules(ZSTD REQUIRED IMPORTED_TARGET libzstd)

# tl::expected is header-only (libexpected-dev).
find_path(TL_EXPECTED_INCLUDE tl/expected.hpp REQUIRED)
add_library(tl_expected INTERFACE)
target_include_directories(tl_expected SYSTEM INTERFACE ${TL_EXPECTED_INCLUDE})

# CLI11 is header-only; older packages ship no CMake config.
if(NOT TARGET CLI11::CLI11)
  find_path(CLI11_INCLUDE CLI/CLI.hpp REQUIRED)
  add_library(CLI11::CLI11 INTERFACE IMPORTED)
  target_include_directories(CLI11::CLI11 SYSTEM INTERFACE ${CLI11_INCLUDE})
endif()

# BLAKE3: the official C implementation as shipped in librust-blake3-dev, compiled as C
# with its x86-64 assembly kernels; blake3_dispatch.c picks the widest at run time.
file(GLOB BLAKE3_C_DIRS LIST_DIRECTORIES true /usr/share/cargo/registry/blake3-*/c)
list(SORT BLAKE3_C_DIRS)
list(POP_BACK BLAKE3_C_DIRS BLAKE3_C_DIR)
if(NOT EXISTS ${BLAKE3_C_DIR}/blake3.c)
  message(FATAL_ERROR "BLAKE3 C sources not found: install librust-blake3-dev (make setup)")
endif()
set(BLAKE3_SOURCES ${BLAKE3_C_DIR}/blake3.c ${BLAKE3_C_DIR}/blake3_dispatch.c
    ${BLAKE3_C_DIR}/blake3_portable.c)
if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  list(APPEND BLAKE3_SOURCES
    ${BLAKE3_C_DIR}/blake3_sse2_x86-64_unix.S ${BLAKE3_C_DIR}/blake3_sse41_x86-64_unix.S
    ${BLAKE3_C_DIR}/blake3_avx2_x86-64_unix.S ${BLAKE3_C_DIR}/blake3_avx512_x86-64_unix.S)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64")
  list(APPEND BLAKE3_SOURCES ${BLAKE3_C_DIR}/blake3_neon.c)
  set(BLAKE3_DEFS BLAKE3_USE_NEON=1)
else()
  set(BLAKE3_DEFS BLAKE3_NO_SSE2 BLAKE3_NO_SSE41 BLAKE3_NO_AVX2 BLAKE3_NO_AVX512)
endif()
add_library(blake3_c STATIC ${BLAKE3_SOURCES})
target_compile_definitions(blake3_c PRIVATE ${BLAKE3_DEFS})
target_compile_options(blake3_c PRIVATE $<$<COMPILE_LANGUAGE:C>:-O3>)
set_target_properties(blake3_c PROPERTIES POSITION_INDEPENDENT_CODE ON)
# blake3_impl.h (the SIMD primitives) is internal to the C library; only base/crypto uses it.
target_include_directories(blake3_c SYSTEM PUBLIC ${BLAKE3_C_DIR})
