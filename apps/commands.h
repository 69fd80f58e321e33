// The subcommands of `tessera`; each lives in its own apps/cmd_<name>.cpp.
#pragma once

#include <CLI/CLI.hpp>

namespace tessera::apps {

void add_run_command(CLI::App& app);      // cmd_run.cpp: the main job
void add_config_command(CLI::App& app);   // cmd_config.cpp: show / check / keys
void add_gemm_command(CLI::App& app);     // cmd_gemm.cpp: systolic array micro-benchmark
void add_hbm_command(CLI::App& app);      // cmd_hbm.cpp: HBM micro-benchmark
void add_noc_command(CLI::App& app);      // cmd_noc.cpp: NoC micro-benchmark
void add_trace_command(CLI::App& app);    // cmd_trace.cpp: trace gen / check / import
void add_sweep_command(CLI::App& app);    // cmd_sweep.cpp: design-space sweeps
void add_plot_command(CLI::App& app);     // cmd_plot.cpp: charts from a sweep
void add_compare_command(CLI::App& app);  // cmd_compare.cpp: A/B of two runs

}  // namespace tessera::apps
