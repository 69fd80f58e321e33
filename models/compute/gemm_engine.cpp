#include "models/compute/gemm_engine.h"

#include "models/compute/gemm_driver.h"
#include "models/compute/gemm_timing.h"
#include "models/compute/systolic_model.h"
#include "models/sim/errors.h"

namespace tessera::compute {

struct GemmEngineBase::Stats {
  explicit Stats(const sim::StatsScope& s)
      : jobs(s.counter("jobs", "jobs", "GEMMs run on the array")),
        cycles(s.counter("cycles", "cycles", "array cycles from job start to last result")),
        busy(s.counter("busy_cycles", "cycles", "cycles an operand vector entered the array")),
        fill(s.counter("fill_cycles", "cycles", "cycles before a job's first operand")),
        stall(s.counter("stall_cycles", "cycles", "cycles a job waited for a weight/result bank")),
        drain(s.counter("drain_cycles", "cycles", "cycles after a job's last operand")),
        folds(s.counter("folds", "folds", "array-sized pieces of the jobs")),
        macs(s.counter("macs", "MACs", "useful int8 multiply-accumulates")),
        rd_ifmap(s.counter("spad_read_bytes.ifmap", "bytes", "input activations read")),
        rd_weight(s.counter("spad_read_bytes.weight", "bytes", "weights read")),
        rd_psum(s.counter("spad_read_bytes.psum", "bytes", "partial sums read back")),
        wr_psum(s.counter("spad_write_bytes.psum", "bytes", "partial sums spilled")),
        wr_ofmap(s.counter("spad_write_bytes.ofmap", "bytes", "final results written")),
        utilization(s.scalar("utilization", "ratio", "useful MACs / (cycles x PEs)")),
        mapping(s.scalar("mapping_efficiency", "ratio", "useful MACs / (streaming cycles x PEs)")),
        pe_cycles(0),
        busy_pe_cycles(0) {}
  sim::Counter &jobs, &cycles, &busy, &fill, &stall, &drain, &folds, &macs;
  sim::Counter &rd_ifmap, &rd_weight, &rd_psum, &wr_psum, &wr_ofmap;
  sim::Scalar &utilization, &mapping;
  double pe_cycles, busy_pe_cycles;
};

GemmEngineBase::GemmEngineBase(const ArrayConfig& cfg, const sim::StatsScope& stats,
                               sim::EnergyLedger& ledger, const std::string& component_name)
    : cfg_(cfg), dataflow_(parse_dataflow(cfg.dataflow)), st_(std::make_unique<Stats>(stats)) {
  mac_e_ = &ledger.account(component_name, "mac", cfg.mac_pj);
  rd_e_ = &ledger.account(component_name, "spad_read", cfg.spad_read_pj_per_byte);
  wr_e_ = &ledger.account(component_name, "spad_write", cfg.spad_write_pj_per_byte);
}

GemmTiming GemmEngineBase::run(const GemmJob& job) {
  const FoldPlan plan = FoldPlan::make(cfg_, dataflow_, job.m, job.n, job.k);
  const GemmTiming t = execute(plan, job);
  account(t);
  return t;
}

void GemmEngineBase::account(const GemmTiming& t) {
  Stats& s = *st_;
  ++s.jobs;
  s.cycles += t.cycles;
  s.busy += t.busy_cycles;
  s.fill += t.fill_cycles;
  s.stall += t.stall_cycles;
  s.drain += t.drain_cycles;
  s.folds += t.folds;
  s.macs += t.macs;
  s.rd_ifmap += t.reads.ifmap;
  s.rd_weight += t.reads.weight;
  s.rd_psum += t.reads.psum;
  s.wr_psum += t.writes.psum;
  s.wr_ofmap += t.writes.ofmap;
  const double pes = double(cfg_.rows) * cfg_.cols;
  s.pe_cycles += double(t.cycles) * pes;
  s.busy_pe_cycles += double(t.busy_cycles) * pes;
  s.utilization.set(s.pe_cycles > 0 ? double(s.macs.value()) / s.pe_cycles : 0.0);
  s.mapping.set(s.busy_pe_cycles > 0 ? double(s.macs.value()) / s.busy_pe_cycles : 0.0);
  mac_e_->charge(t.macs);
  rd_e_->charge(t.reads.ifmap + t.reads.weight + t.reads.psum);
  wr_e_->charge(t.writes.psum + t.writes.ofmap);
}

SteppedGemmEngine::SteppedGemmEngine(const ArrayConfig& cfg, const sim::StatsScope& stats,
                                     sim::EnergyLedger& ledger, const std::string& component_name,
                                     const EngineOptions& opts)
    : GemmEngineBase(cfg, stats, ledger, component_name) {
  if (cfg.impl == "model") {
    primary_ = std::make_unique<SystolicModel>(cfg.rows, cfg.cols);
  } else if (cfg.impl == "rtl") {
    primary_ = std::make_unique<RtlDatapath>(cfg.rows, cfg.cols, opts.vcd_path);
  } else if (cfg.impl == "both") {
    primary_ = std::make_unique<RtlDatapath>(cfg.rows, cfg.cols, opts.vcd_path);
    shadow_ = std::make_unique<SystolicModel>(cfg.rows, cfg.cols);
  } else {
    throw sim::UserError("array.impl: '" + cfg.impl + "' is not a stepped engine");
  }
}

SteppedGemmEngine::~SteppedGemmEngine() = default;

GemmTiming SteppedGemmEngine::execute(const FoldPlan& plan, const GemmJob& job) {
  return run_gemm(plan, cfg_.fold_overlap, job, *primary_, shadow_.get(), per_cycle_);
}

GemmTiming ClosedFormGemmEngine::execute(const FoldPlan& plan, const GemmJob& job) {
  (void)job;  // timing only: values need a stepped engine
  return closed_form_timing(plan, cfg_.fold_overlap);
}

std::unique_ptr<GemmEngineIf> make_gemm_engine(const ArrayConfig& cfg, const sim::StatsScope& stats,
                                               sim::EnergyLedger& ledger,
                                               const std::string& component_name,
                                               const EngineOptions& opts) {
  if (cfg.impl == "closed-form")
    return std::make_unique<ClosedFormGemmEngine>(cfg, stats, ledger, component_name);
  if (cfg.impl == "model" || cfg.impl == "rtl" || cfg.impl == "both")
    return std::make_unique<SteppedGemmEngine>(cfg, stats, ledger, component_name, opts);
  throw sim::UserError("array.impl: unknown '" + cfg.impl +
                       "' (one of: model, rtl, both, closed-form)");
}

std::unique_ptr<GemmEngineIf> make_gemm_engine(const ArrayConfig& cfg, const sim::StatsScope& stats,
                                               sim::EnergyLedger& ledger,
                                               const std::string& component_name) {
  return make_gemm_engine(cfg, stats, ledger, component_name, EngineOptions{});
}

}  // namespace tessera::compute
