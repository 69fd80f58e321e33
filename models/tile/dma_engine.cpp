#include "models/tile/dma_engine.h"

#include <algorithm>
#include <cstring>

#include "models/sim/errors.h"

namespace tessera::tile {

DmaEngine::DmaEngine(sc_core::sc_module_name name, const DmaConfig& cfg,
                     const sim::ClockDomain& clock, const sim::StatsScope& stats, Scratchpad& spm,
                     DataPlane* data)
    : sc_module(name),
      socket("socket"),
      cfg_(cfg),
      clock_(clock),
      spm_(spm),
      data_(data),
      peq_(this, &DmaEngine::peq_cb),
      bytes_read_(stats.counter("bytes_loaded", "bytes", "bytes moved into the scratchpad")),
      bytes_written_(stats.counter("bytes_stored", "bytes", "bytes moved out of the scratchpad")),
      bursts_(stats.counter("bursts", "requests", "memory requests issued")),
      burst_latency_(stats.histogram("burst_latency", "ps", "request issue to response")),
      busy_(clock_, stats.counter("busy_cycles", "cycles", "cycles with a transfer in progress")) {
  socket.register_nb_transport_bw(this, &DmaEngine::nb_transport_bw);
  scratch_.assign(cfg.burst_bytes + 2 * cfg.align_bytes, 0);
  payloads_.reset(new tlm::tlm_generic_payload[cfg.outstanding]);
  for (uint32_t i = 0; i < cfg.outstanding; ++i) {
    payloads_[i].set_mm(this);
    pool_.push_back(&payloads_[i]);
  }
  slot_.resize(cfg.outstanding);
  byte_enables_.resize(cfg.outstanding);
  reduce_.resize(cfg.outstanding);
}

DmaEngine::~DmaEngine() {
  for (uint32_t i = 0; i < cfg_.outstanding; ++i)
    payloads_[i].clear_extension<noc::ReduceExtension>();
}

void DmaEngine::free(tlm::tlm_generic_payload* p) {
  p->reset();  // drops any extensions a target left
  pool_.push_back(p);
}

void DmaEngine::split(const DmaDesc& d, std::vector<Burst>& out) const {
  out.clear();
  uint64_t local = d.local_addr;
  for (uint64_t z = 0; z < d.size[2]; ++z) {
    for (uint64_t y = 0; y < d.size[1]; ++y) {
      uint64_t remote = d.remote_addr + z * d.remote_stride[2] + y * d.remote_stride[1];
      uint64_t left = d.size[0];
      while (left > 0) {
        // Bursts never cross a burst-aligned boundary of the remote address.
        const uint64_t room = cfg_.burst_bytes - (remote % cfg_.burst_bytes);
        const uint32_t n = uint32_t(std::min(left, room));
        out.push_back({remote, local, n});
        remote += n;
        local += n;
        left -= n;
      }
    }
  }
}

void DmaEngine::transfer(const DmaDesc& d, bool to_remote, const noc::ReduceExtension* reduce) {
  bool done = false;
  sc_core::sc_event ev;
  submit(
      d, to_remote,
      [&done, &ev] {
        done = true;
        ev.notify(sc_core::SC_ZERO_TIME);
      },
      reduce);
  while (!done) wait(ev);
}

void DmaEngine::submit(const DmaDesc& d, bool to_remote, std::function<void()> done,
                       const noc::ReduceExtension* reduce) {
  spm_.check_range(d.local_addr, d.bytes(), std::string(name()) + " transfer");
  const uint32_t di = descs_.acquire();
  descs_[di] = Desc{0, false, std::move(done)};
  busy_.begin(sim::Picoseconds::from_sc(sc_core::sc_time_stamp()));
  wait(clock_.duration(sim::Cycles(cfg_.setup_cycles)));
  std::vector<Burst> bursts;
  split(d, bursts);
  for (const Burst& b : bursts) {
    uint8_t* local = spm_.functional() ? spm_.data(b.local) : nullptr;
    if (reduce) {
      // A contribution: exactly the burst's bytes, to the switch, no functional copy.
      noc::ReduceExtension e = *reduce;
      e.offset = b.remote - d.remote_addr;
      e.bytes = b.bytes;
      issue(b.remote, scratch_.data(), b.bytes, true, b.remote, nullptr, b.bytes, int32_t(di), &e);
      bytes_written_ += b.bytes;
      spm_.record_read(SpmClient::kDma, b.bytes);
      continue;
    }
    if (to_remote && local && data_) data_->write(b.remote, local, b.bytes);
    // Memory is accessed in whole aligned units: a burst that starts or ends inside
    // one moves the whole unit (masked on writes), as a real DMA does.
    const uint64_t a = cfg_.align_bytes;
    const uint64_t lo = b.remote / a * a, hi = (b.remote + b.bytes + a - 1) / a * a;
    issue(lo, scratch_.data(), uint32_t(hi - lo), to_remote, b.remote, local, b.bytes, int32_t(di));
    if (to_remote) {
      bytes_written_ += b.bytes;
      spm_.record_read(SpmClient::kDma, b.bytes);
    } else {
      bytes_read_ += b.bytes;
      spm_.record_write(SpmClient::kDma, b.bytes);
    }
  }
  descs_[di].issued = true;
  if (descs_[di].outstanding == 0) finish_desc(di);
}

void DmaEngine::finish_desc(uint32_t di) {
  std::function<void()> done = std::move(descs_[di].done);
  descs_[di].done = nullptr;
  descs_.release(di);
  busy_.end(sim::Picoseconds::from_sc(sc_core::sc_time_stamp()));
  if (done) done();
}

void DmaEngine::issue(uint64_t remote, uint8_t* buf, uint32_t bytes, bool write,
                      uint64_t copy_remote, uint8_t* copy_local, uint32_t copy_bytes, int32_t desc,
                      const noc::ReduceExtension* reduce) {
  ++slot_waiters_;
  while (pool_.empty() || open_req_) wait(progress_);
  --slot_waiters_;
  tlm::tlm_generic_payload* p = pool_.back();
  pool_.pop_back();
  p->acquire();
  p->set_command(write ? tlm::TLM_WRITE_COMMAND : tlm::TLM_READ_COMMAND);
  p->set_address(remote);
  p->set_data_length(bytes);
  p->set_streaming_width(bytes);
  p->set_data_ptr(buf);
  if (write && copy_bytes > 0 && (copy_remote != remote || copy_bytes != bytes)) {
    // Widened to whole units: only the burst's own bytes are enabled.
    std::vector<uint8_t>& be = byte_enables_[slot_of(*p)];
    be.assign(bytes, TLM_BYTE_DISABLED);
    std::fill_n(be.begin() + ptrdiff_t(copy_remote - remote), copy_bytes, TLM_BYTE_ENABLED);
    p->set_byte_enable_ptr(be.data());
    p->set_byte_enable_length(bytes);
  } else {
    p->set_byte_enable_ptr(nullptr);
    p->set_byte_enable_length(0);
  }
  p->set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
  Slot& slot = slot_[slot_of(*p)];
  slot.issue_time = sc_core::sc_time_stamp();
  slot.copy = {copy_remote, copy_local, copy_bytes};
  slot.desc = desc;
  if (desc >= 0) ++descs_[size_t(desc)].outstanding;
  if (reduce) {
    reduce_[slot_of(*p)] = *reduce;
    p->set_extension(&reduce_[slot_of(*p)]);
  } else {
    p->clear_extension<noc::ReduceExtension>();
  }
  ++in_flight_;
  ++bursts_;
  open_req_ = p;
  tlm::tlm_phase ph = tlm::BEGIN_REQ;
  sc_core::sc_time t = sc_core::SC_ZERO_TIME;
  const tlm::tlm_sync_enum s = socket->nb_transport_fw(*p, ph, t);
  if (s == tlm::TLM_COMPLETED || (s == tlm::TLM_UPDATED && ph == tlm::BEGIN_RESP)) {
    open_req_ = nullptr;
    peq_.notify(*p, tlm::BEGIN_RESP, t);
  } else if (s == tlm::TLM_UPDATED && ph == tlm::END_REQ) {
    open_req_ = nullptr;
  }
}

void DmaEngine::write_word(uint64_t remote_addr, uint32_t value) {
  // A posted write: it returns once the request is on its way, so a burst of signals
  // (a barrier's release) pipelines instead of paying one round trip each. Each slot
  // keeps its own copy of the value until its response returns.
  ++slot_waiters_;
  while (pool_.empty() || open_req_) wait(progress_);
  --slot_waiters_;
  uint32_t& word = slot_[slot_of(*pool_.back())].word;
  word = value;
  issue(remote_addr, reinterpret_cast<uint8_t*>(&word), 4, true, 0, nullptr, 0, -1);
}

tlm::tlm_sync_enum DmaEngine::nb_transport_bw(tlm::tlm_generic_payload& p, tlm::tlm_phase& ph,
                                              sc_core::sc_time& t) {
  if (ph == tlm::END_REQ || ph == tlm::BEGIN_RESP) {
    peq_.notify(p, ph, t);
    if (ph == tlm::BEGIN_RESP) {
      ph = tlm::END_RESP;  // we accept every response at once
      return tlm::TLM_COMPLETED;
    }
  }
  return tlm::TLM_ACCEPTED;
}

void DmaEngine::peq_cb(tlm::tlm_generic_payload& p, const tlm::tlm_phase& ph) {
  if (ph == tlm::END_REQ) {
    if (open_req_ == &p) open_req_ = nullptr;
    progress_.notify(sc_core::SC_ZERO_TIME);
    return;
  }
  if (ph == tlm::BEGIN_RESP) complete(p);
}

void DmaEngine::complete(tlm::tlm_generic_payload& p) {
  if (p.is_response_error())
    throw sim::SimulationError(std::string(name()) + ": memory request to address " +
                               std::to_string(p.get_address()) +
                               " failed: " + p.get_response_string());
  const Slot& slot = slot_[slot_of(p)];
  const Copy& c = slot.copy;
  if (p.get_command() == tlm::TLM_READ_COMMAND && c.local && data_)
    data_->read(c.remote, c.local, c.bytes);
  burst_latency_.sample((sc_core::sc_time_stamp() - slot.issue_time).value());
  // A BEGIN_RESP also ends the request phase if END_REQ was skipped.
  if (open_req_ == &p) open_req_ = nullptr;
  --in_flight_;
  const int32_t desc = slot.desc;
  // The slot owns its contribution extension: detach it (a payload frees the
  // extensions still set when it is destroyed).
  p.clear_extension<noc::ReduceExtension>();
  p.release();
  // Only a thread waiting for a slot needs each completion (a wake per burst was a
  // thread switch per burst); a descriptor's owner is told by its action.
  if (slot_waiters_ > 0) progress_.notify(sc_core::SC_ZERO_TIME);
  if (desc >= 0) {
    Desc& d = descs_[size_t(desc)];
    if (--d.outstanding == 0 && d.issued) finish_desc(uint32_t(desc));
  }
}

}  // namespace tessera::tile
