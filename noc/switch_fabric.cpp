#include "noc/switch_fabric.h"

#include <algorithm>

#include "models/sim/errors.h"

namespace tessera::noc {

FabricCore::FabricCore(const FabricConfig& cfg, uint32_t ports, const sim::StatsScope& stats,
                       sim::EnergyLedger* energy)
    : cfg_(cfg), ports_(ports), planes_(cfg.planes) {
  if (ports < 2) throw sim::UserError("fabric: a switch needs at least 2 ports");
  if (planes_ < 1) planes_ = 1;
  bytes_per_ps_ = cfg.port_gbytes_per_s * 1e9 / 1e12;  // GB/s -> bytes per ps
  plane_bytes_per_ps_ = bytes_per_ps_ / planes_;
  link_ps_ = cfg.link_latency_ns * 1000.0;
  switch_ps_ = cfg.switch_latency_ns * 1000.0;
  const size_t n = size_t(ports) * planes_;
  in_free_.assign(n, 0.0);
  out_free_.assign(n, 0.0);
  out_left_.assign(n, std::vector<double>(cfg.output_queue_chunks, 0.0));
  out_count_.assign(n, 0);
  for (uint32_t p = 0; p < ports; ++p) {
    const sim::StatsScope ps = stats.child("port" + std::to_string(p));
    port_bytes_in_.push_back(
        &ps.counter("bytes_in", "bytes", "bytes from the endpoint into the switch"));
    port_bytes_out_.push_back(
        &ps.counter("bytes_out", "bytes", "bytes from the switch to the endpoint"));
  }
  reductions_ = &stats.counter("reduced_chunks", "chunks", "chunks summed in the switch");
  if (energy)
    energy_bit_ =
        &energy->account(stats.prefix().empty() ? "fabric" : stats.prefix(), "bit", cfg.pj_per_bit);
}

double FabricCore::step_latency_ps() const {
  return 2 * link_ps_ + switch_ps_ + double(cfg_.chunk_bytes) / plane_bytes_per_ps_;
}

double FabricCore::enqueue_out(uint32_t dst, uint32_t plane, uint64_t bytes, double e,
                               double* entered) {
  const size_t q = idx(dst, plane);
  // FIFO queue of Q slots: chunk k may enter once chunk k-Q has left.
  std::vector<double>& ring = out_left_[q];
  const size_t slot = out_count_[q] % ring.size();
  const double enter = std::max(e, ring[slot]);
  const double leave = std::max(enter, out_free_[q]);
  out_free_[q] = leave + double(bytes) / plane_bytes_per_ps_;
  ring[slot] = leave;
  ++out_count_[q];
  *port_bytes_out_[dst] += bytes;
  if (energy_bit_) energy_bit_->charge(bytes * 8);
  *entered = enter;
  return out_free_[q] + link_ps_;
}

double FabricCore::chunk(uint32_t src, uint32_t dst, uint32_t plane, uint64_t bytes, double t) {
  const size_t i = idx(src, plane);
  const double start = std::max(t, in_free_[i]);
  const double in_end = start + double(bytes) / plane_bytes_per_ps_;
  *port_bytes_in_[src] += bytes;
  double entered;
  const double arrive = enqueue_out(dst, plane, bytes, in_end + link_ps_ + switch_ps_, &entered);
  // Backpressure: the sender's link holds the chunk until the output queue took it.
  in_free_[i] = std::max(in_end, entered - link_ps_ - switch_ps_);
  return arrive;
}

double FabricCore::send(uint32_t src, uint32_t dst, uint64_t bytes, double t) {
  if (src >= ports_ || dst >= ports_) throw sim::SimulationError("fabric: port out of range");
  double done = t;
  uint64_t left = std::max<uint64_t>(bytes, 1);
  for (uint32_t k = 0; left > 0; ++k) {
    const uint64_t b = std::min<uint64_t>(left, cfg_.chunk_bytes);
    done = std::max(done, chunk(src, dst, k % planes_, b, t));
    left -= b;
  }
  return done;
}

double FabricCore::ring_all_reduce(uint32_t p, uint64_t n, double t) {
  if (p < 2 || p > ports_) throw sim::UserError("fabric: all-reduce needs 2..ports ranks");
  const uint64_t part = (n + p - 1) / p;  // each step moves one n/p segment
  std::vector<double> ready(p, t), next(p, t);
  for (uint32_t step = 0; step < 2 * (p - 1); ++step) {
    for (uint32_t r = 0; r < p; ++r) next[(r + 1) % p] = send(r, (r + 1) % p, part, ready[r]);
    ready.swap(next);
  }
  return *std::max_element(ready.begin(), ready.end());
}

double FabricCore::switch_all_reduce(uint32_t p, uint64_t n, double t) {
  if (!cfg_.in_network_reduction)
    throw sim::UserError("fabric.in_network_reduction is off: no switch-offloaded all-reduce");
  if (p < 2 || p > ports_) throw sim::UserError("fabric: all-reduce needs 2..ports ranks");
  double done = t;
  uint64_t left = std::max<uint64_t>(n, 1);
  for (uint32_t k = 0; left > 0; ++k) {
    const uint64_t b = std::min<uint64_t>(left, cfg_.chunk_bytes);
    const uint32_t plane = k % planes_;
    // Every rank's contribution of chunk k reaches the reduction unit...
    double all_in = t;
    for (uint32_t r = 0; r < p; ++r) {
      const size_t i = idx(r, plane);
      const double start = std::max(t, in_free_[i]);
      in_free_[i] = start + double(b) / plane_bytes_per_ps_;
      *port_bytes_in_[r] += b;
      all_in = std::max(all_in, in_free_[i] + link_ps_);
    }
    ++*reductions_;
    // ...which multicasts the sum to every rank's output queue.
    for (uint32_t r = 0; r < p; ++r) {
      double entered;
      done = std::max(done, enqueue_out(r, plane, b, all_in + switch_ps_, &entered));
    }
    left -= b;
  }
  return done;
}

SwitchFabric::SwitchFabric(sc_core::sc_module_name name, const FabricConfig& cfg, uint32_t ports,
                           Decoder decode, const sim::StatsScope& stats, sim::EnergyLedger* energy)
    : sc_module(name), core_(cfg, ports, stats, energy), decode_(std::move(decode)) {
  for (uint32_t p = 0; p < ports; ++p) {
    in.emplace_back(std::make_unique<tlm_utils::simple_target_socket_tagged<SwitchFabric>>(
        ("in" + std::to_string(p)).c_str()));
    in.back()->register_b_transport(this, &SwitchFabric::b_transport, int(p));
    out.emplace_back(std::make_unique<tlm_utils::simple_initiator_socket_tagged<SwitchFabric>>(
        ("out" + std::to_string(p)).c_str()));
  }
}

void SwitchFabric::b_transport(int port, tlm::tlm_generic_payload& trans, sc_core::sc_time& delay) {
  const uint32_t dst = decode_(trans.get_address());
  if (dst >= core_.ports()) {
    trans.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
    return;
  }
  const bool write = trans.is_write();
  const uint64_t len = trans.get_data_length();
  const double t0 = double((sc_core::sc_time_stamp() + delay).value());
  // Request: header, plus the data of a write.
  const double at_dst = core_.send(uint32_t(port), dst, kHeaderBytes + (write ? len : 0), t0);
  sc_core::sc_time d =
      sc_core::sc_time::from_value(uint64_t(at_dst + 0.5)) - sc_core::sc_time_stamp();
  wait(d);
  sc_core::sc_time td = sc_core::SC_ZERO_TIME;
  (*out[dst])->b_transport(trans, td);
  wait(td);
  // Response: header, plus the data of a read.
  const double back = core_.send(dst, uint32_t(port), kHeaderBytes + (write ? 0 : len),
                                 double(sc_core::sc_time_stamp().value()));
  wait(sc_core::sc_time::from_value(uint64_t(back + 0.5)) - sc_core::sc_time_stamp());
  delay = sc_core::SC_ZERO_TIME;
}

}  // namespace tessera::noc
