// Subcommands of the ntneural binary. Each registers its options on the CLI11 app and returns
// the function that runs it (exit code).
#pragma once

#include <functional>
#include <string>

namespace CLI {
class App;
}

namespace ntn::cli {

using Run = std::function<int()>;

// The registered model types, comma-separated (help texts take them from the registry).
std::string model_names();

Run add_info(CLI::App& app);
Run add_models(CLI::App& app);
Run add_bench_kernels(CLI::App& bench);
Run add_bench_train(CLI::App& bench);
Run add_bench_predict(CLI::App& bench);
Run add_bench_data(CLI::App& bench);
Run add_bench_fit(CLI::App& bench);
Run add_train(CLI::App& app);
Run add_evaluate(CLI::App& app);
Run add_calibrate(CLI::App& app);
Run add_plot(CLI::App& app);
Run add_predict(CLI::App& app);
Run add_quantize(CLI::App& app);
Run add_backtest(CLI::App& app);
Run add_search(CLI::App& app);
Run add_registry(CLI::App& app);

}  // namespace ntn::cli
