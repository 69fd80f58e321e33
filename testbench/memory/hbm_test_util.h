// A plain-C++ HBM stack core with its own stats and energy, and helpers to place
// requests at exact locations and clocks.
#pragma once

#include <map>
#include <string>

#include "models/memory/hbm_stack_core.h"
#include "models/sim/energy_ledger.h"
#include "models/sim/stats_registry.h"

namespace tessera::memory::test {

inline HbmConfig preset_config(const std::string& preset, const std::string& extra = "") {
  return load_hbm_config("preset: " + preset + "\n" + extra, "<test>");
}

// HBM3 with refresh off and writes completing at their last data beat: the timing
// tests check one rule at a time. `controller` adds more controller keys.
inline HbmConfig quiet_hbm3(const std::string& controller = "") {
  std::string keys = "refresh: none";
  if (controller.find("write_response") == std::string::npos) keys += ", write_response: data";
  if (!controller.empty()) keys += ", " + controller;
  return preset_config("hbm3", "controller: {" + keys + "}\n");
}

struct Harness {
  sim::StatsRegistry reg;
  sim::EnergyLedger energy;
  HbmStackCore core;
  std::map<uint64_t, uint64_t> finish;  // tag -> last data beat
  uint64_t next_tag = 0;

  explicit Harness(const HbmConfig& cfg) : core(cfg, sim::StatsScope(reg, "hbm"), energy) {}

  uint64_t addr(uint32_t ch, uint32_t pc, uint32_t bg, uint32_t bank, uint32_t row,
                uint32_t col = 0, uint32_t sid = 0) const {
    HbmLocation l;
    l.channel = ch;
    l.pc = pc;
    l.sid = sid;
    l.bank_group = bg;
    l.bank = bank;
    l.row = row;
    l.column = col;
    return core.mapper().encode(l);
  }
  // Submits at clock `at` (after running everything before it, so that several
  // requests submitted at the same clock are all queued before that clock's step).
  uint64_t submit(uint64_t a, bool write, uint64_t at, uint64_t bytes = 32) {
    if (at > 0) run_until(at - 1);
    const uint64_t tag = next_tag++;
    core.submit(a, bytes, write, tag, at);
    return tag;
  }
  void run_until(uint64_t t) {
    core.advance(t);
    collect();
  }
  void drain() {
    while (core.in_flight() > 0) {
      core.advance(core.next_event());
      collect();
    }
  }
  void collect() {
    for (const auto& c : core.completions()) finish[c.tag] = c.finish;
    core.completions().clear();
  }
  // The controllers count on the hot path and add to the registry when flushed.
  double stat(const std::string& name) {
    core.flush_stats();
    return reg.value(name);
  }
};

}  // namespace tessera::memory::test
