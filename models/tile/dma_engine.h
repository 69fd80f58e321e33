// The tile's DMA engine: splits a (up to 3-D strided) descriptor into bursts and
// issues them as TLM-2.0 approximately-timed transactions, with up to `outstanding`
// in flight; the request phase is its backpressure (no new BEGIN_REQ before END_REQ).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <tlm_utils/peq_with_cb_and_phase.h>
#include <tlm_utils/simple_initiator_socket.h>
#include <systemc>
#include <tlm>

#include "models/sim/busy_time.h"
#include "models/sim/clock_domain.h"
#include "models/sim/slot_table.h"
#include "models/sim/stats_registry.h"
#include "models/tile/data_plane.h"
#include "models/tile/program.h"
#include "models/tile/scratchpad.h"
#include "models/tile/tile_config.h"
#include "noc/reduce_extension.h"

namespace tessera::tile {

class DmaEngine : public sc_core::sc_module, public tlm::tlm_mm_interface {
 public:
  tlm_utils::simple_initiator_socket<DmaEngine> socket;

  DmaEngine(sc_core::sc_module_name name, const DmaConfig& cfg, const sim::ClockDomain& clock,
            const sim::StatsScope& stats, Scratchpad& spm, DataPlane* data);
  // A run stopped mid-flight leaves contribution extensions set; they belong to this
  // engine (reduce_), not to the payloads, which would free them.
  ~DmaEngine() override;
  // The payloads it sends (all its own, `payload_count` from `payloads()` on): a mux
  // in front of it can tell its transactions by address.
  const tlm::tlm_generic_payload* payloads() const { return payloads_.get(); }
  size_t payload_count() const { return cfg_.outstanding; }
  // Memory requests (bursts) issued so far.
  uint64_t bursts_issued() const { return bursts_.value(); }

  // Blocking, called from a tile SC_THREAD: moves the descriptor and returns when the
  // last burst has completed. to_remote: scratchpad -> remote (store/send).
  // reduce: every burst is an in-network reduction contribution carrying a copy of
  // this extension (offset and bytes set per burst); it is not written through the
  // functional data plane (the switch's sums are timing-only).
  void transfer(const DmaDesc& d, bool to_remote, const noc::ReduceExtension* reduce = nullptr);
  // Called from a tile SC_THREAD: issues every burst of the descriptor (waiting for
  // free slots) and returns once the last one is issued, so the caller can start the
  // next descriptor while these are in flight. `done` runs, in the completing
  // process's context (it must not wait), when the last burst has completed.
  void submit(const DmaDesc& d, bool to_remote, std::function<void()> done,
              const noc::ReduceExtension* reduce = nullptr);
  // One posted 4-byte write of `value` (a semaphore signal) to a remote address:
  // returns when the request is issued; later transfers wait for it as for any burst.
  void write_word(uint64_t remote_addr, uint32_t value);

  void free(tlm::tlm_generic_payload* p) override;

 private:
  struct Burst {
    uint64_t remote;
    uint64_t local;
    uint32_t bytes;
  };
  void split(const DmaDesc& d, std::vector<Burst>& out) const;
  // Issues one burst (waits for a free slot and for the request channel).
  // copy_*: the bytes a load copies into the scratchpad at completion (functional).
  // desc: the descriptor record the burst belongs to (-1: a posted signal write).
  void issue(uint64_t remote, uint8_t* buf, uint32_t bytes, bool write, uint64_t copy_remote,
             uint8_t* copy_local, uint32_t copy_bytes, int32_t desc,
             const noc::ReduceExtension* reduce = nullptr);
  // A descriptor finished (its last burst completed, or it had none in flight).
  void finish_desc(uint32_t desc);
  tlm::tlm_sync_enum nb_transport_bw(tlm::tlm_generic_payload& p, tlm::tlm_phase& ph,
                                     sc_core::sc_time& t);
  void peq_cb(tlm::tlm_generic_payload& p, const tlm::tlm_phase& ph);
  void complete(tlm::tlm_generic_payload& p);
  size_t slot_of(const tlm::tlm_generic_payload& p) const { return size_t(&p - payloads_.get()); }

  DmaConfig cfg_;
  sim::ClockDomain clock_;
  Scratchpad& spm_;
  DataPlane* data_;
  tlm_utils::peq_with_cb_and_phase<DmaEngine> peq_;
  std::unique_ptr<tlm::tlm_generic_payload[]> payloads_;
  std::vector<tlm::tlm_generic_payload*> pool_;
  std::vector<uint8_t> scratch_;  // data buffer when not functional (targets may touch it)
  uint32_t in_flight_ = 0;
  tlm::tlm_generic_payload* open_req_ = nullptr;  // its BEGIN_REQ awaits END_REQ
  sc_core::sc_event progress_;
  uint32_t slot_waiters_ = 0;  // threads in issue()/write_word() waiting for a slot
  sim::Counter& bytes_read_;
  sim::Counter& bytes_written_;
  sim::Counter& bursts_;
  sim::Histogram& burst_latency_;
  // By pool slot: the byte enables of a write widened to whole aligned units (the
  // bytes outside the burst masked off, as a real DMA's masked write).
  std::vector<std::vector<uint8_t>> byte_enables_;
  struct Copy {
    uint64_t remote = 0;
    uint8_t* local = nullptr;
    uint32_t bytes = 0;
  };
  // By pool slot, what a burst in flight needs at its completion, in one cache line
  // (as separate arrays they were a cache miss each per burst).
  struct alignas(64) Slot {
    sc_core::sc_time issue_time;
    Copy copy;
    int32_t desc = -1;  // descriptor record (-1: a posted signal write)
    uint32_t word = 0;  // the value of a posted signal write
  };
  std::vector<Slot> slot_;
  std::vector<noc::ReduceExtension> reduce_;  // by pool slot: a contribution's extension
  // Descriptors with bursts in flight: their outstanding count and completion action.
  struct Desc {
    uint32_t outstanding = 0;
    bool issued = false;  // every burst issued
    std::function<void()> done;
  };
  sim::SlotTable<Desc> descs_;
  // "cycles with a transfer in progress": descriptors overlap, so the union of their
  // intervals is counted.
  sim::BusyTime busy_;
};

}  // namespace tessera::tile
