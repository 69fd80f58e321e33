#include "models/compute/gemm_array_module.h"

namespace tessera::compute {

GemmArrayModule::GemmArrayModule(sc_core::sc_module_name name, const ArrayConfig& cfg,
                                 const sim::ClockDomain& clock, const sim::StatsScope& stats,
                                 sim::EnergyLedger& ledger, const EngineOptions& opts)
    : sc_core::sc_module(name), clock_(clock) {
  ArrayConfig c = cfg;
  if (c.impl == "closed-form") c.impl = "model";  // stepping needs a datapath
  engine_ = std::make_unique<SteppedGemmEngine>(c, stats, ledger, std::string(this->name()), opts);
  engine_->set_per_cycle([this] { sc_core::wait(clock_.delay_to_edge(sc_core::sc_time_stamp())); });
}

GemmTiming GemmArrayModule::run(const GemmJob& job) {
  return engine_->run(job);
}

}  // namespace tessera::compute
