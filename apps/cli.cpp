#include "apps/cli.h"

#include <iostream>
#include <new>

#include <systemc>

#include "apps/commands.h"
#include "models/sim/errors.h"

namespace tessera::apps {

int run_cli(int argc, char** argv) {
  sc_core::sc_report_handler::set_actions("/OSCI/SystemC", sc_core::SC_INFO,
                                          sc_core::SC_DO_NOTHING);
  CLI::App app{"Tessera: cycle-level simulator of chiplet AI accelerators"};
  app.set_version_flag("--version", std::string("tessera ") + TESSERA_VERSION);
  app.require_subcommand(1);
  add_run_command(app);
  add_config_command(app);
  add_gemm_command(app);
  add_hbm_command(app);
  add_noc_command(app);
  add_trace_command(app);
  add_sweep_command(app);
  add_plot_command(app);
  add_compare_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "tessera: " << e.what() << "\n";
    return sim::kExitBadInput;
  } catch (const sim::UserError& e) {
    std::cerr << e.what() << "\n";
    return e.exit_code();
  } catch (const std::bad_alloc&) {
    std::cerr << "tessera: out of host memory (a workload this large needs more: simulate "
                 "fewer layers with --simulate-layers, or a shorter prompt)\n";
    return sim::kExitFailure;
  } catch (const std::exception& e) {
    // SystemC reports and anything unexpected: still one line, never a crash.
    std::string msg = e.what();
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    for (auto& c : msg)
      if (c == '\n') c = ' ';
    std::cerr << "tessera: internal error: " << msg << "\n";
    return sim::kExitFailure;
  }
  return sim::kExitOk;
}

}  // namespace tessera::apps
