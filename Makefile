# gavel -- the two commands of the README, plus helpers.
#   make demo    install what is missing, build, run the bundled examples
#   make test    install what is missing, build, run every test (also ASan+UBSan)
BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all deps build demo test test-fast asan bench clean fuzz

all: build

deps:
	@bash scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

demo: build
	@bash scripts/demo.sh $(BUILD)

test: deps
	@bash scripts/test.sh

# make fuzz [FUZZ_SECONDS=N]: each libFuzzer harness of fuzz/ for N s (60)
fuzz:
	@bash fuzz/run.sh -t $(or $(FUZZ_SECONDS),60)

bench: build
	@bash scripts/bench.sh $(BUILD)

clean:
	rm -rf build build-asan
