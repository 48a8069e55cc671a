# The front door. `make run` and `make test` are all a fresh Debian bookworm machine needs.
BUILD_DIR ?= build
BUILD_TYPE ?= Release
CTEST_JOBS ?= 2

.PHONY: all setup configure build test unit run bench clean

all: build

setup:
	@scripts/setup.sh

$(BUILD_DIR)/build.ninja: CMakeLists.txt
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)

configure: setup $(BUILD_DIR)/build.ninja

build: configure
	cmake --build $(BUILD_DIR)

# Every test: unit (gtest), command-line scenarios and integration scripts.
test: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(CTEST_JOBS)

# Only the fast in-process tests.
unit: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(CTEST_JOBS) -L unit

run: build
	$(BUILD_DIR)/bzzz node

bench: build
	@scripts/setup.sh --bench
	bench/run.sh $(BUILD_DIR)
	bench/http.sh $(BUILD_DIR)
	bench/p2p.sh $(BUILD_DIR)
	bench/pubsub.sh $(BUILD_DIR)
	bench/dht.sh $(BUILD_DIR)
	bench/content.sh $(BUILD_DIR)

clean:
	rm -rf $(BUILD_DIR)
