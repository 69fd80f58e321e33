#include "models/sim/energy_ledger.h"

#include <stdexcept>

namespace tessera::sim {

EnergyAccount& EnergyLedger::account(const std::string& component, const std::string& kind,
                                     double pj_per_event) {
  if (!index_.emplace(std::make_pair(component, kind), accounts_.size()).second)
    throw std::logic_error("energy account opened twice: " + component + "/" + kind);
  return accounts_.emplace_back(component, kind, pj_per_event);
}

double EnergyLedger::total_pj() const {
  double s = 0.0;
  for (const auto& a : accounts_) s += a.total_pj();
  return s;
}

double EnergyLedger::total_pj_under(const std::string& prefix) const {
  double s = 0.0;
  for (const auto& a : accounts_) {
    const std::string& c = a.component();
    if (c == prefix || (c.size() > prefix.size() && c.compare(0, prefix.size(), prefix) == 0 &&
                        c[prefix.size()] == '.'))
      s += a.total_pj();
  }
  return s;
}

std::map<std::string, double> EnergyLedger::pj_by_kind() const {
  std::map<std::string, double> out;
  for (const auto& a : accounts_) out[a.kind()] += a.total_pj();
  return out;
}

double EnergyLedger::average_watts(uint64_t sim_time_ps) const {
  if (sim_time_ps == 0) return 0.0;
  return total_pj() / double(sim_time_ps);  // pJ / ps = J / s
}

void EnergyLedger::publish(StatsRegistry& stats, uint64_t sim_time_ps) const {
  for (const auto& a : accounts_) {
    stats.scalar(a.component() + ".energy." + a.kind(), "pJ", "energy charged for " + a.kind())
        .set(a.total_pj());
  }
  stats.scalar("energy.total", "J", "energy of the whole run").set(total_joules());
  stats.scalar("energy.average_power", "W", "total energy over simulated time")
      .set(average_watts(sim_time_ps));
}

}  // namespace tessera::sim
