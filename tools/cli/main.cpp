// ntneural: one binary, many subcommands (each a thin main in its own file).
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>
#include <map>
#include <new>
#include <stdexcept>
#include <string>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "commands.h"
#include "ntn/dist.h"
#include "ntn/error.h"

int main(int argc, char** argv) {
#if defined(__GLIBC__)
  // Keep freed buffers for reuse instead of handing them back to the kernel: glibc maps blocks
  // over 128 KB (a model's gradient slab, a workspace) afresh and trims the heap's top, so a job
  // that builds many models (--per-series, search, refits) page-faulted and zeroed every one of
  // them again (1.57M page faults for 414 NHITS 256x256 models, a third of the run). Peak memory
  // is unchanged; blocks over 32 MB are still mapped.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
#endif
  CLI::App app{"ntneural " NTN_VERSION
               ": neural time-series forecasting for market data (fast CPU kernels, honest benchmarks)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "ntneural " NTN_VERSION);

  std::map<const CLI::App*, ntn::cli::Run> runs;
  CLI::App* info = app.add_subcommand("info", "Print version, chosen ISA, CPU features, BLAS and threads");
  runs[info] = ntn::cli::add_info(*info);

  CLI::App* models = app.add_subcommand("models", "List the model types with their outputs, covariates and streaming");
  runs[models] = ntn::cli::add_models(*models);

  CLI::App* train = app.add_subcommand("train", "Train a model on a data file and write an artifact");
  runs[train] = ntn::cli::add_train(*train);
  CLI::App* evaluate = app.add_subcommand("evaluate", "Score a model artifact on the test part of a protocol");
  runs[evaluate] = ntn::cli::add_evaluate(*evaluate);
  CLI::App* calibrate = app.add_subcommand("calibrate", "Calibrate a model's conformal intervals on other data or levels; write a new artifact");
  runs[calibrate] = ntn::cli::add_calibrate(*calibrate);
  CLI::App* plot = app.add_subcommand("plot", "Draw a model on a data file: an SVG chart (forecast fan, backtest, learning curve) or the one-page HTML report");
  runs[plot] = ntn::cli::add_plot(*plot);
  CLI::App* predict = app.add_subcommand("predict", "Forecast after the end of each series, or tick by tick from stdin (--stream)");
  runs[predict] = ntn::cli::add_predict(*predict);
  CLI::App* quant = app.add_subcommand("quantize", "Write an fp16 / bf16 / int8 copy of an artifact; with --data, compare its accuracy with fp32");
  runs[quant] = ntn::cli::add_quantize(*quant);
  CLI::App* bt_cmd = app.add_subcommand("backtest", "Rolling-origin evaluation of a model or an ensemble on one series (--refit-every: over MPI ranks under mpirun)");
  runs[bt_cmd] = ntn::cli::add_backtest(*bt_cmd);
  CLI::App* search = app.add_subcommand("search", "Grid / random search of configurations scored by a backtest (over MPI ranks under mpirun)");
  runs[search] = ntn::cli::add_search(*search);

  CLI::App* registry = app.add_subcommand("registry", "Model registry (one SQLite file): add, list, show, search --like, tag, promote, rm, check, gc");
  runs[registry] = ntn::cli::add_registry(*registry);

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
  CLI::App* bf = bench->add_subcommand("fit", "Median time of one Prophet-style MAP fit (L-BFGS) on a whole series");
  runs[bf] = ntn::cli::add_bench_fit(*bf);

  // Every failure is one line on stderr and exit code 2; --help and --version print and exit 0.
  // A rank of a distributed job that fails ends every rank (none waits for it until its timeout).
  ntn::dist::Comm* comm = nullptr;
  auto fail = [&](const std::string& msg) {
    if (comm && comm->distributed()) comm->abort(ntn::cat("rank ", comm->rank(), ": ", msg));
    std::fprintf(stderr, "ntneural: error: %s\n", msg.c_str());
    return 2;
  };
  int rc = 1;
  try {
    app.parse(argc, argv);
    if (ntn::dist::launched_by_mpi()) {  // mpirun / srun: one rank of a distributed job
      NTN_CHECK(ntn::dist::built_with_mpi(), "launched by an MPI launcher, but this ntneural was built without MPI "
                "(scripts/setup.sh installs libopenmpi-dev; rebuild)");
      comm = &ntn::dist::world();
      if (comm->distributed()) {
        NTN_CHECK(train->parsed() || bt->parsed() || search->parsed() || bt_cmd->parsed(),
                  "only train, bench train, search and backtest --refit-every run over MPI ranks (", comm->size(),
                  " ranks here): run the other commands as one process");
        // Rank 0 prints and writes; the others compute their share in silence.
        if (!comm->root()) NTN_CHECK(std::freopen("/dev/null", "w", stdout), "rank ", comm->rank(), ": cannot silence stdout");
      }
    }
    for (auto& [cmd, run] : runs)
      if (cmd->parsed()) rc = run();
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return fail(std::string(e.what()) + " (see --help)");
  } catch (const ntn::Error& e) {
    return fail(e.what());
  } catch (const std::bad_alloc&) {
    return fail("out of memory: the options or the input ask for more memory than this machine has "
                "(lower the sizes: --batch, --input-size, --horizon, widths; see README 'Limits')");
  } catch (const std::length_error& e) {
    return fail(std::string("a size derived from the options or the input is too large (") + e.what() + ")");
  } catch (const std::exception& e) {
    return fail(std::string("unexpected: ") + e.what());
  }
  // Output that could not be written (a full disk, a closed pipe) is a failure, not exit 0.
  if (std::fflush(stdout) != 0 || std::ferror(stdout)) return fail("cannot write the output to stdout");
  if (std::fflush(stderr) != 0 || std::ferror(stderr)) return 2;  // nowhere left to say so
  return rc;
}
