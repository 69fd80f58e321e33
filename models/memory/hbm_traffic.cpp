#include "models/memory/hbm_traffic.h"

#include <algorithm>
#include <random>
#include <vector>

#include "models/sim/errors.h"

namespace tessera::memory {

void check_traffic(const HbmStackCore& core, const HbmTrafficSpec& s) {
  const uint32_t g = core.access_bytes();
  if (s.pattern != "seq" && s.pattern != "random" && s.pattern != "mix" && s.pattern != "strided" &&
      s.pattern != "streams")
    throw sim::UserError("--pattern " + s.pattern +
                         ": expected seq, random, mix, strided or streams");
  if (s.request_bytes == 0 || s.request_bytes % g != 0)
    throw sim::UserError("--request-bytes " + std::to_string(s.request_bytes) +
                         ": must be a positive multiple of the " + std::to_string(g) +
                         " B access granularity");
  if (s.request_bytes > core.capacity_bytes())
    throw sim::UserError("--request-bytes: larger than the stack");
  if (!(s.read_fraction >= 0.0 && s.read_fraction <= 1.0))
    throw sim::UserError("--read-fraction: must lie in [0, 1]");
  if (s.requests == 0) throw sim::UserError("--requests: must be at least 1");
  if (s.outstanding == 0) throw sim::UserError("--outstanding: must be at least 1");
  // A stream beyond the requests' count would never issue one.
  const uint64_t most_streams = std::min(s.requests, core.capacity_bytes() / s.request_bytes);
  if (s.pattern == "streams" && (s.streams == 0 || s.streams > most_streams))
    throw sim::UserError("--streams " + std::to_string(s.streams) + ": must be 1 to " +
                         std::to_string(most_streams) +
                         " (at most --requests, and at most the stack's request-sized slots)");
  if (s.pattern == "strided" && (s.stride == 0 || s.stride % s.request_bytes != 0))
    throw sim::UserError("--stride " + std::to_string(s.stride) +
                         ": must be a positive multiple of --request-bytes");
}

// Disjoint, as the weight shares of different tiles are; until the sixteenth session
// each base was drawn over the whole stack and two streams could overlap.
std::vector<uint64_t> stream_bases(uint64_t slots, uint32_t streams, uint64_t requests,
                                   std::mt19937_64& rng) {
  const uint64_t region = streams ? slots / streams : 0;  // check_traffic: at least 1
  const uint64_t length = streams ? (requests + streams - 1) / streams : 0;
  std::uniform_int_distribution<uint64_t> offset(0, region > length ? region - length : 0);
  std::vector<uint64_t> base;
  for (uint32_t k = 0; k < streams; ++k) base.push_back(k * region + offset(rng));
  return base;
}

HbmTrafficResult run_hbm_traffic(HbmStackCore& core, const HbmTrafficSpec& s) {
  check_traffic(core, s);
  std::mt19937_64 rng(s.seed);
  const uint64_t slots = core.capacity_bytes() / s.request_bytes;
  std::uniform_int_distribution<uint64_t> pick(0, slots - 1);
  std::uniform_real_distribution<double> coin(0.0, 1.0);
  const bool random_addr = s.pattern == "random" || s.pattern == "mix";
  const uint64_t stride_slots = s.pattern == "strided" ? s.stride / s.request_bytes : 1;
  // streams: request i is the (i / n)-th of stream i mod n.
  std::vector<uint64_t> base;
  if (s.pattern == "streams") base = stream_bases(slots, s.streams, s.requests, rng);

  uint64_t issued = 0, completed = 0, last = 0;
  while (completed < s.requests) {
    while (issued < s.requests && core.can_submit() && core.in_flight() < s.outstanding) {
      const uint64_t slot = random_addr ? pick(rng)
                            : !base.empty()
                                ? (base[issued % base.size()] + issued / base.size()) % slots
                                : (issued * stride_slots) % slots;
      const bool write = s.read_fraction < 1.0 && coin(rng) >= s.read_fraction;
      core.submit(slot * s.request_bytes, s.request_bytes, write, issued, core.now());
      ++issued;
    }
    const uint64_t t = core.next_event();
    if (t == kNever) throw sim::SimulationError("HBM traffic: no progress (deadlock)");
    core.advance(t);
    auto& done = core.completions();
    for (const auto& c : done) last = std::max(last, c.finish);
    completed += done.size();
    done.clear();
  }
  core.publish(last);
  return {last, completed};
}

}  // namespace tessera::memory
