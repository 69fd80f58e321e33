#include "models/sim/clock_domain.h"

#include <numeric>

#include "models/sim/errors.h"

namespace tessera::sim {

ClockDomain::ClockDomain(std::string name, uint64_t num, uint64_t den)
    : name_(std::move(name)), num_(num), den_(den) {
  const uint64_t g = std::gcd(num_, den_);
  num_ /= g;
  den_ /= g;
}

ClockDomain ClockDomain::from_mhz(const std::string& name, uint64_t mhz) {
  if (mhz == 0 || mhz > 1000000)
    throw UserError(name + ": clock of " + std::to_string(mhz) + " MHz is outside 1 MHz .. 1 THz");
  return ClockDomain(name, 1000000, mhz);  // period = 1e6/mhz ps
}

ClockDomain ClockDomain::from_period_ps(const std::string& name, uint64_t period_ps) {
  if (period_ps == 0) throw UserError(name + ": clock period must be at least 1 ps");
  return ClockDomain(name, period_ps, 1);
}

Picoseconds ClockDomain::edge_ps(Cycles n) const {
  const unsigned __int128 p = static_cast<unsigned __int128>(n.v) * num_;
  return Picoseconds(static_cast<uint64_t>((p + den_ - 1) / den_));
}

Cycles ClockDomain::cycles_at(Picoseconds t) const {
  // edge_ps(n) <= t  <=>  ceil(n*num/den) <= t  <=>  n*num <= t*den  (t integer)
  const unsigned __int128 p = static_cast<unsigned __int128>(t.v) * den_;
  return Cycles(static_cast<uint64_t>(p / num_));
}

sc_core::sc_time ClockDomain::delay_to_edge(const sc_core::sc_time& now, Cycles n) const {
  const Picoseconds t = Picoseconds::from_sc(now);
  Cycles c = cycles_at(t);  // the last edge at or before now
  const Picoseconds target = edge_ps(c + n);
  return sc_core::sc_time::from_value(target.v - t.v);
}

}  // namespace tessera::sim
