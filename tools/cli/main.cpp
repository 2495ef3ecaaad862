// ntneural: one binary, many subcommands (each a thin main in its own file).
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>
#include <map>

#include "commands.h"
#include "ntn/error.h"

int main(int argc, char** argv) {
  CLI::App app{"ntneural " NTN_VERSION
               ": neural time-series forecasting for market data (fast CPU kernels, honest benchmarks)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "ntneural " NTN_VERSION);

  std::map<const CLI::App*, ntn::cli::Run> runs;
  CLI::App* info = app.add_subcommand("info", "Print version, chosen ISA, CPU features, BLAS and threads");
  runs[info] = ntn::cli::add_info(*info);

  CLI::App* train = app.add_subcommand("train", "Train a model on a data file and write an artifact");
  runs[train] = ntn::cli::add_train(*train);
  CLI::App* evaluate = app.add_subcommand("evaluate", "Score a model artifact on the test part of a protocol");
  runs[evaluate] = ntn::cli::add_evaluate(*evaluate);
  CLI::App* predict = app.add_subcommand("predict", "Forecast after the end of each series, or tick by tick from stdin (--stream)");
  runs[predict] = ntn::cli::add_predict(*predict);
  CLI::App* quant = app.add_subcommand("quantize", "Write an fp16 / int8 copy of an artifact; with --data, compare its accuracy with fp32");
  runs[quant] = ntn::cli::add_quantize(*quant);
  CLI::App* bt_cmd = app.add_subcommand("backtest", "Rolling-origin evaluation of a model or an ensemble on one series");
  runs[bt_cmd] = ntn::cli::add_backtest(*bt_cmd);
  CLI::App* search = app.add_subcommand("search", "Grid / random search of configurations scored by a backtest");
  runs[search] = ntn::cli::add_search(*search);

  CLI::App* bench = app.add_subcommand("bench", "Run a benchmark and print its named figures");
  bench->require_subcommand(1);
  CLI::App* bk = bench->add_subcommand("kernels", "Kernel figures: normalisation, MSE, GEMM/GEMV, tensor pool");
  runs[bk] = ntn::cli::add_bench_kernels(*bk);
  CLI::App* bt = bench->add_subcommand("train", "Median time of one training step (forward + backward + Adam)");
  runs[bt] = ntn::cli::add_bench_train(*bt);
  CLI::App* bp = bench->add_subcommand("predict", "Serving figures: batch-1 latency, batch throughput, cache, memory");
  runs[bp] = ntn::cli::add_bench_predict(*bp);
  CLI::App* bd = bench->add_subcommand("data", "Rolling statistics and indicators over 1M points (1 thread)");
  runs[bd] = ntn::cli::add_bench_data(*bd);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    for (auto& [cmd, run] : runs)
      if (cmd->parsed()) return run();
  } catch (const ntn::Error& e) {
    std::fprintf(stderr, "ntneural: error: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ntneural: unexpected error: %s\n", e.what());
    return 3;
  }
  return 1;
}
