// ntneural info: what this build will run with on this machine.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>

#include "commands.h"
#include "common.h"
#include "ntn/cpu.h"
#include "ntn/dist.h"
#include "ntn/kernels.h"
#include "ntn/parallel.h"

namespace ntn::cli {

Run add_info(CLI::App& app) {
  auto json = std::make_shared<bool>(false);
  auto threads = std::make_shared<int>(0);
  app.add_flag("--json", *json, "Print one JSON object");
  add_uint(app, "--threads", *threads, limits::kThreads, "Threads to use (0 = all hardware threads)");
  return [json, threads]() {
    set_num_threads(*threads);
    const CpuFeatures& f = cpu_features();
    std::string supported;
    for (Isa i : supported_isas()) supported += std::string(supported.empty() ? "" : ",") + isa_name(i);
    nlohmann::json j = {
        {"version", NTN_VERSION},
        {"isa", isa_name(active_isa())},
        {"isa_supported", supported},
        {"cpu", f.brand},
        {"cpu_vendor", f.vendor},
        {"threads", num_threads()},
        {"hardware_threads", hardware_threads()},
        {"blas", blas_info()},
        {"blas_core", blas_core()},
        {"mpi", dist::built_with_mpi()},  // train runs over mpirun's ranks
        {"blas_used_for", "double-precision gradient checks and benchmark peers only (float training and serving "
                          "run ntneural's own kernels)"},
    };
    print_result(j, *json);
    return 0;
  };
}

}  // namespace ntn::cli
