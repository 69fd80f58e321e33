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

// The products below fit 64 bits for any time a run reaches (n * num < 2^64: over
// 200 days of simulated time at a 1 ns period); those are done in 64 bits, the rest in
// 128 (a 128-bit division is a library call, on the HBM stacks' path at every wake).
Picoseconds ClockDomain::edge_ps(Cycles n) const {
  if (n.v <= UINT64_MAX / num_ - 1) {
    const uint64_t p = n.v * num_;
    return Picoseconds(den_ == 1 ? p : (p + den_ - 1) / den_);
  }
  const unsigned __int128 p = static_cast<unsigned __int128>(n.v) * num_;
  return Picoseconds(static_cast<uint64_t>((p + den_ - 1) / den_));
}

Cycles ClockDomain::cycles_at(Picoseconds t) const {
  // edge_ps(n) <= t  <=>  ceil(n*num/den) <= t  <=>  n*num <= t*den  (t integer)
  if (t.v <= UINT64_MAX / den_) return Cycles(t.v * den_ / num_);
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
