# ntneural front door. Every target installs what is missing first (scripts/setup.sh).
#   make demo   - set up, build, run the main job on the embedded data
#   make test   - set up, build release + debug-asan (ASan + UBSan), run every test in both, and
#                 the concurrent serving tests under ThreadSanitizer
#   make bench  - the Google Benchmark kernel suite (SIMD and scalar side by side)
#   make bench-baseline / make bench-compare - save a baseline, compare a new run against it
#   make bench-torch - training step, serving latency / throughput / memory side by side with PyTorch
#                      (installs python3-torch)
.PHONY: all setup build build-asan build-tsan demo test test-release test-asan test-tsan bench bench-baseline bench-compare bench-torch golden format clean

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
# 20% of the days against the random-walk forecast, then forecasts the 5 days after the data.
DEMO_MODEL := build/demo_sp500.ntn
demo: build
	./$(RELEASE)/ntneural info
	./$(RELEASE)/ntneural train --data data/sp500_2000_2020_daily.csv --columns close \
	  --scaler none --window-scaler standard --input-size 60 --horizon 5 \
	  --model nhits --mlp-units 256x256 --max-steps 1000 --batch 64 --val-every 50 --patience 5 \
	  --out $(DEMO_MODEL)
	./$(RELEASE)/ntneural predict --model $(DEMO_MODEL) --data data/sp500_2000_2020_daily.csv --columns close

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

test: test-release test-asan test-tsan

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
