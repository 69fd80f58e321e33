// The energy ledger: blocks open an account per (component, event kind) with a cost
// in picojoules per event, and charge events on it. The report sums the ledger into
// joules and, with the simulated time, average watts.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "models/sim/stats_registry.h"

namespace tessera::sim {

class EnergyAccount {
 public:
  EnergyAccount(std::string component, std::string kind, double pj_per_event)
      : component_(std::move(component)), kind_(std::move(kind)), pj_per_event_(pj_per_event) {}
  void charge(uint64_t events = 1) { events_ += events; }
  // Energy that is not a count of events (background power over a time).
  void charge_pj(double pj) { extra_pj_ += pj; }
  const std::string& component() const { return component_; }
  const std::string& kind() const { return kind_; }
  double pj_per_event() const { return pj_per_event_; }
  uint64_t events() const { return events_; }
  double total_pj() const { return double(events_) * pj_per_event_ + extra_pj_; }

 private:
  std::string component_;
  std::string kind_;
  double pj_per_event_;
  uint64_t events_ = 0;
  double extra_pj_ = 0.0;
};

class EnergyLedger {
 public:
  // Opening the same (component, kind) twice is a programming error.
  EnergyAccount& account(const std::string& component, const std::string& kind,
                         double pj_per_event);
  double total_pj() const;
  double total_joules() const { return total_pj() * 1e-12; }
  // Sum of every account whose component equals or lies under `prefix`.
  double total_pj_under(const std::string& prefix) const;
  // Energy by event kind, over all components.
  std::map<std::string, double> pj_by_kind() const;
  // Average watts over a simulated time in picoseconds (0 when no time passed).
  double average_watts(uint64_t sim_time_ps) const;
  const std::deque<EnergyAccount>& accounts() const { return accounts_; }
  // Writes "<component>.energy.<kind>" (pJ) scalars and "energy.total" into stats.
  void publish(StatsRegistry& stats, uint64_t sim_time_ps) const;

 private:
  std::deque<EnergyAccount> accounts_;
  std::map<std::pair<std::string, std::string>, size_t> index_;
};

}  // namespace tessera::sim
