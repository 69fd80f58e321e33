// Clock domains: integer-picosecond time, a cycle type distinct from time, and
// exact rational periods so that clocks such as 1.5 GHz (666.67 ps) never drift.
#pragma once

#include <cstdint>
#include <string>

#include <systemc>

namespace tessera::sim {

// A count of clock cycles of some domain. Deliberately not convertible to or from
// picoseconds without naming the domain.
struct Cycles {
  uint64_t v = 0;
  constexpr Cycles() = default;
  constexpr explicit Cycles(uint64_t n) : v(n) {}
  constexpr Cycles operator+(Cycles o) const { return Cycles(v + o.v); }
  constexpr Cycles operator-(Cycles o) const { return Cycles(v - o.v); }
  constexpr Cycles& operator+=(Cycles o) {
    v += o.v;
    return *this;
  }
  constexpr bool operator==(Cycles o) const { return v == o.v; }
  constexpr bool operator!=(Cycles o) const { return v != o.v; }
  constexpr bool operator<(Cycles o) const { return v < o.v; }
  constexpr bool operator<=(Cycles o) const { return v <= o.v; }
  constexpr bool operator>(Cycles o) const { return v > o.v; }
  constexpr bool operator>=(Cycles o) const { return v >= o.v; }
};

// Simulated time in picoseconds (SystemC runs at a 1 ps resolution).
struct Picoseconds {
  uint64_t v = 0;
  constexpr Picoseconds() = default;
  constexpr explicit Picoseconds(uint64_t n) : v(n) {}
  constexpr bool operator==(Picoseconds o) const { return v == o.v; }
  constexpr bool operator<(Picoseconds o) const { return v < o.v; }
  sc_core::sc_time to_sc() const { return sc_core::sc_time::from_value(v); }
  static Picoseconds from_sc(const sc_core::sc_time& t) { return Picoseconds(t.value()); }
};

// A clock domain. The period is kept as an exact fraction of picoseconds
// (num/den): 1 GHz is 1000/1, 1.5 GHz is 2000/3. Cycle n's rising edge is at
// exactly n*num/den ps; SystemC sees it at the first whole picosecond at or after
// that instant, so edges are never more than 1 ps late and never accumulate drift.
class ClockDomain {
 public:
  ClockDomain() : ClockDomain("clk", 1000, 1) {}
  // Throws UserError if the frequency is zero or above 1 THz.
  static ClockDomain from_mhz(const std::string& name, uint64_t mhz);
  static ClockDomain from_period_ps(const std::string& name, uint64_t period_ps);

  const std::string& name() const { return name_; }
  uint64_t period_num_ps() const { return num_; }
  uint64_t period_den() const { return den_; }
  bool integer_period() const { return den_ == 1; }
  double period_ps() const { return double(num_) / double(den_); }
  double freq_ghz() const { return double(den_) * 1000.0 / double(num_); }

  // The instant (rounded up to a whole picosecond) of cycle n's rising edge.
  Picoseconds edge_ps(Cycles n) const;
  // Number of whole cycles completed by time t: the largest n with edge_ps(n) <= t.
  Cycles cycles_at(Picoseconds t) const;
  // A duration of n cycles starting at cycle 0 (equal to edge_ps(n)).
  sc_core::sc_time duration(Cycles n) const { return edge_ps(n).to_sc(); }
  // The first edge strictly after SystemC's current time plus n-1 further cycles:
  // how long a block aligned to this clock waits to act n cycles from now.
  sc_core::sc_time delay_to_edge(const sc_core::sc_time& now, Cycles n = Cycles(1)) const;
  Cycles now_cycles() const { return cycles_at(Picoseconds::from_sc(sc_core::sc_time_stamp())); }

 private:
  ClockDomain(std::string name, uint64_t num, uint64_t den);
  std::string name_;
  uint64_t num_;  // period numerator, ps
  uint64_t den_;  // period denominator
};

}  // namespace tessera::sim
