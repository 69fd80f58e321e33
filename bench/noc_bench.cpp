// Simulation speed of the cycle-level NoC core: 8x8 mesh, DOR, 2 VCs x 8 flits,
// 4-flit packets, uniform random traffic at 0.3 flits/node/cycle (goal >= 100,000
// simulated cycles per wall second on one core), plus an idle-heavy low-load point.
#include <cstdio>

#include <systemc>

#include "noc/synthetic_traffic.h"

using namespace tessera::noc;

int sc_main(int, char*[]) {  // libsystemc.so owns main()
  NocConfig cfg;
  for (double rate : {0.3, 0.01}) {
    TrafficConfig tc;
    tc.rate = rate;
    tc.packet_flits = 4;
    tc.warmup_cycles = 10000;
    tc.measure_cycles = 200000;
    const TrafficResult r = run_synthetic(cfg, 8, 8, tc);
    std::printf(
        "8x8 mesh uniform %.2f flits/node/cycle: %llu cycles in %.3f s = %.0f simulated "
        "cycles/s (latency %.2f, accepted %.4f)\n",
        rate, (unsigned long long)r.cycles, r.wall_seconds, double(r.cycles) / r.wall_seconds,
        r.avg_packet_latency, r.accepted_rate);
  }
  return 0;
}
