// The typed payload extension that turns a write into an in-network reduction
// contribution for the switch fabric (NVLink-SHARP / NVLS style).
//
// A contribution is an ordinary TLM write whose address routes it to the package's
// fabric port (any address in another package; the mapper uses the next member's copy
// of the result) and which carries this extension. The switch does not deliver it to
// that address: it adds the burst to its reduction buffer under (group id, offset),
// and when `contributors` bursts of that key have arrived it multicasts the result to
// every address in `results` (+ offset) through its output queues. When all of a
// piece's `bytes` have landed at a member, the switch adds 1 to that member's
// semaphore word (`semaphores`, a posted 4-byte write as a tile's signal). With
// contributors == 1 the same path is a plain switch multicast (all-gather).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include <tlm>

namespace tessera::noc {

// What every contribution of one piece shares.
struct ReduceGroup {
  uint64_t id = 0;                   // unique per (collective, piece)
  uint32_t contributors = 1;         // bursts of a key the switch waits for
  uint64_t bytes = 0;                // bytes of the whole piece (every burst together)
  std::vector<uint64_t> results;     // per member: global address of the piece's result
  std::vector<uint64_t> semaphores;  // per member: global address of the semaphore to signal
};

class ReduceExtension : public tlm::tlm_extension<ReduceExtension> {
 public:
  std::shared_ptr<const ReduceGroup> group;
  uint64_t offset = 0;  // of this burst within the piece
  uint32_t bytes = 0;   // of this burst

  tlm::tlm_extension_base* clone() const override { return new ReduceExtension(*this); }
  void copy_from(const tlm::tlm_extension_base& e) override {
    *this = static_cast<const ReduceExtension&>(e);
  }
};

}  // namespace tessera::noc
