# ntneural front door. Every target installs what is missing first (scripts/setup.sh).
#   make demo   - set up, build, run the main job on the embedded data
#   make test   - set up, build release + debug-asan (ASan + UBSan), run every test in both, the
#                 concurrent serving tests under ThreadSanitizer, and a 60 s smoke run of each fuzzer
#   make fuzz   - the libFuzzer targets (CSV reader, artifact loader, stdin parser, stream snapshot) for
#                 FUZZ_SECONDS each (default 600), corpora kept in build/fuzz
#   make python - build, then install the Python package for the user (import ntneural)
#   make bench  - the Google Benchmark kernel suite (SIMD and scalar side by side)
#   make bench-baseline / make bench-compare - save a baseline, compare a new run against it
#   make bench-torch - training step, serving latency / throughput / memory side by side with PyTorch
#                      (installs python3-torch)
.PHONY: all setup build python build-asan build-tsan build-fuzz demo test test-release test-asan test-tsan test-fuzz fuzz bench bench-baseline bench-compare bench-torch golden format clean

SHELL := /bin/bash
RELEASE := build/release
BASELINE := bench/results/kernels_baseline.json
CURRENT := bench/results/kernels_current.json
BENCH_FLAGS := --benchmark_repetitions=5 --benchmark_report_aggregates_only=true --benchmark_out_format=json

all: build

setup:
	@bash scripts/setup.sh

build: setup
	@cmake --preset release > /dev/null
	@cmake --build --preset release

build-asan: setup
	@cmake --preset debug-asan > /dev/null
	@cmake --build --preset debug-asan

# The demo trains a small NHITS on the embedded S&P 500 closes (data/README.md), scores the last
# 20% of the days against the random-walk forecast, then forecasts the 5 days after the data, and
# ends with the run's report (forecast fan, backtest, learning curve, metrics, model card).
DEMO_MODEL := build/demo_sp500.ntn
DEMO_REPORT := build/demo_report.html
demo: build
	./$(RELEASE)/ntneural info
	./$(RELEASE)/ntneural train --data data/sp500_2000_2020_daily.csv --columns close \
	  --scaler none --window-scaler standard --input-size 60 --horizon 5 \
	  --model nhits --mlp-units 256x256 --max-steps 1000 --batch 64 --val-every 50 --patience 5 \
	  --out $(DEMO_MODEL) --plot $(DEMO_REPORT)
	./$(RELEASE)/ntneural predict --model $(DEMO_MODEL) --data data/sp500_2000_2020_daily.csv --columns close
	@echo "demo report (open it in a browser): $(abspath $(DEMO_REPORT))"

# The Python package into the user's site-packages (for Debian's /usr/bin/python3).
python: build
	@site=$$(/usr/bin/python3 -m site --user-site) && mkdir -p "$$site" && rm -rf "$$site/ntneural" && \
	  cp -r $(RELEASE)/python/ntneural "$$site/" && echo "ntneural installed in $$site"

test-release: build
	ctest --preset release

test-asan: build-asan
	ctest --preset debug-asan

# ThreadSanitizer: the library and the concurrent serving tests only (keeps the suite short).
build-tsan: setup
	@cmake --preset tsan > /dev/null
	@cmake --build --preset tsan

test-tsan: build-tsan
	ctest --preset tsan

# libFuzzer (clang): the library + four fuzz targets, ASan + UBSan; ctest runs each for 60 s.
build-fuzz: setup
	@cmake --preset fuzz > /dev/null
	@cmake --build --preset fuzz

test-fuzz: build-fuzz
	ctest --preset fuzz

FUZZ_SECONDS ?= 600
fuzz: build-fuzz
	cd build/fuzz && for t in csv artifact stream snapshot; do mkdir -p corpus_$$t; \
	  ./fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=3072 -print_final_stats=1 \
	    corpus_$$t ../../tests/fuzz/seeds/$$t 2>&1 | tee fuzz_$$t.log | grep -E "DONE|ERROR|SUMMARY|stat::"; \
	  test $${PIPESTATUS[0]} -eq 0 || exit 1; done

test: test-release test-asan test-tsan test-fuzz

bench: build
	./$(RELEASE)/bench_kernels

bench-baseline: build
	@mkdir -p bench/results
	./$(RELEASE)/bench_kernels $(BENCH_FLAGS) --benchmark_out=$(BASELINE)
	@echo "baseline saved to $(BASELINE)"

bench-compare: build
	@test -f $(BASELINE) || { echo "no baseline: run 'make bench-baseline' first"; exit 1; }
	./$(RELEASE)/bench_kernels $(BENCH_FLAGS) --benchmark_out=$(CURRENT) > /dev/null
	/usr/bin/python3 /usr/share/benchmark/compare.py benchmarks $(BASELINE) $(CURRENT)

# Side by side with PyTorch (installs Debian's python3-torch first).
bench-torch: build
	@bash scripts/setup.sh --torch
	@mkdir -p bench/results
	/usr/bin/python3 bench/compare_torch.py --threads 2 --rounds 5 --json bench/results/train_vs_torch_2t.json
	/usr/bin/python3 bench/compare_torch.py --threads 1 --rounds 5 --json bench/results/train_vs_torch_1t.json
	/usr/bin/python3 bench/compare_predict.py --json bench/results/predict_vs_torch.json
	/usr/bin/python3 bench/compare_backtest.py --json bench/results/backtest_vs_torch.json

format:
	clang-format -i $$(git ls-files '*.cpp' '*.h' '*.inl')

clean:
	rm -rf build
