#include "noc/switch_fabric.h"

#include <algorithm>

#include "models/sim/errors.h"
#include "models/sim/thread_budget.h"

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
  next_plane_.assign(ports, 0);
  out_free_.assign(n, 0.0);
  out_left_.assign(n, std::vector<double>(cfg.output_queue_chunks, 0.0));
  out_count_.assign(n, 0);
  for (uint32_t p = 0; p < ports; ++p) {
    const sim::StatsScope ps = stats.child("port" + std::to_string(p));
    port_bytes_in_.push_back(
        &ps.counter("bytes_in", "bytes", "bytes from the endpoint into the switch"));
    port_bytes_out_.push_back(
        &ps.counter("bytes_out", "bytes", "bytes from the switch to the endpoint"));
    port_util_.push_back(&ps.scalar("in_utilisation", "ratio",
                                    "bytes into the switch over the port's bandwidth and the run"));
    port_util_.push_back(
        &ps.scalar("out_utilisation", "ratio",
                   "bytes out of the switch over the port's bandwidth and the run"));
  }
  reductions_ = &stats.counter("reduced_chunks", "chunks",
                               "sums completed in the switch (one per chunk, or per contributed "
                               "burst of a simulated collective)");
  contributions_ = &stats.counter("reduce_contributions", "requests",
                                  "in-network reduction contributions taken by the switch");
  contribution_bytes_ =
      &stats.counter("reduce_bytes_in", "bytes", "bytes of in-network reduction contributions");
  multicast_bytes_ = &stats.counter("multicast_bytes", "bytes",
                                    "bytes the switch multicast to members (all copies)");
  if (energy)
    energy_bit_ =
        &energy->account(stats.prefix().empty() ? "fabric" : stats.prefix(), "bit", cfg.pj_per_bit);
}

void FabricCore::publish(double elapsed_ps) {
  if (elapsed_ps <= 0) return;
  for (uint32_t p = 0; p < ports_; ++p) {
    port_util_[2 * p]->set(double(port_bytes_in_[p]->value()) / (bytes_per_ps_ * elapsed_ps));
    port_util_[2 * p + 1]->set(double(port_bytes_out_[p]->value()) / (bytes_per_ps_ * elapsed_ps));
  }
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
  uint32_t& plane = next_plane_[src];
  while (left > 0) {
    const uint64_t b = std::min<uint64_t>(left, cfg_.chunk_bytes);
    done = std::max(done, chunk(src, dst, plane, b, t));
    plane = plane + 1 == planes_ ? 0 : plane + 1;
    left -= b;
  }
  return done;
}

double FabricCore::control(uint32_t src, uint32_t dst, uint64_t bytes, double t) {
  if (src >= ports_ || dst >= ports_) throw sim::SimulationError("fabric: port out of range");
  *port_bytes_in_[src] += bytes;
  *port_bytes_out_[dst] += bytes;
  if (energy_bit_) energy_bit_->charge(bytes * 8);
  const double ser = double(bytes) / plane_bytes_per_ps_;
  return t + ser + link_ps_ + switch_ps_ + ser + link_ps_;
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

double FabricCore::contribute(uint32_t src, uint32_t plane, uint64_t bytes, double t) {
  const size_t i = idx(src, plane);
  const double start = std::max(t, in_free_[i]);
  in_free_[i] = start + double(bytes) / plane_bytes_per_ps_;
  *port_bytes_in_[src] += bytes;
  ++*contributions_;
  *contribution_bytes_ += bytes;
  return in_free_[i] + link_ps_;
}

void FabricCore::multicast(const std::vector<uint32_t>& srcs, const std::vector<uint32_t>& dsts,
                           uint32_t plane, uint64_t bytes, double all_in,
                           std::vector<double>& arrive) {
  if (srcs.size() > 1) ++*reductions_;
  arrive.assign(dsts.size(), 0.0);
  double last_entered = all_in;
  for (size_t k = 0; k < dsts.size(); ++k) {
    double entered;
    arrive[k] = enqueue_out(dsts[k], plane, bytes, all_in + switch_ps_, &entered);
    last_entered = std::max(last_entered, entered);
    *multicast_bytes_ += bytes;
  }
  // Backpressure: the sum's buffer frees once every copy is queued; until then its
  // contributors' links hold their next chunks.
  for (uint32_t s : srcs) {
    const size_t i = idx(s, plane);
    in_free_[i] = std::max(in_free_[i], last_entered - link_ps_ - switch_ps_);
  }
}

double FabricCore::from_switch(uint32_t dst, uint32_t plane, uint64_t bytes, double t) {
  double entered;
  return enqueue_out(dst, plane, bytes, t, &entered);
}

double FabricCore::switch_all_reduce(uint32_t p, uint64_t n, double t) {
  if (!cfg_.in_network_reduction)
    throw sim::UserError("fabric.in_network_reduction is off: no switch-offloaded all-reduce");
  if (p < 2 || p > ports_) throw sim::UserError("fabric: all-reduce needs 2..ports ranks");
  double done = t;
  uint64_t left = std::max<uint64_t>(n, 1);
  std::vector<uint32_t> ranks(p);
  for (uint32_t r = 0; r < p; ++r) ranks[r] = r;
  std::vector<double> arrive;
  for (uint32_t k = 0; left > 0; ++k) {
    const uint64_t b = std::min<uint64_t>(left, cfg_.chunk_bytes);
    const uint32_t plane = k % planes_;
    // Every rank's contribution of chunk k reaches the reduction unit...
    double all_in = t;
    for (uint32_t r = 0; r < p; ++r) all_in = std::max(all_in, contribute(r, plane, b, t));
    // ...which multicasts the sum to every rank's output queue.
    multicast(ranks, ranks, plane, b, all_in, arrive);
    for (double a : arrive) done = std::max(done, a);
    left -= b;
  }
  return done;
}

SwitchFabric::SwitchFabric(sc_core::sc_module_name name, const FabricConfig& cfg, uint32_t ports,
                           Decoder decode, const sim::StatsScope& stats, sim::EnergyLedger* energy,
                           uint32_t outs_per_port, OutPicker out_of)
    : sc_module(name),
      outs_(outs_per_port),
      out_of_(std::move(out_of)),
      arrive_q_("arrive",
                [this](tlm::tlm_generic_payload*& t) {
                  fwd_[out_index(route_of(*t).dst, t->get_address())].push(*t);
                }),
      return_q_("return", [this](tlm::tlm_generic_payload*& t) { returned(*t); }),
      contrib_q_("contribution", [this](Contribution& c) { contribution_in(c); }),
      core_(cfg, ports, stats, energy),
      decode_(std::move(decode)) {
  if (outs_ < 1 || (outs_ > 1 && !out_of_))
    throw sim::SimulationError(std::string(this->name()) + ": bad out sockets per port");
  buffer_bytes_ = uint64_t(cfg.reduction_buffer_kib) * 1024;
  window_bytes_ = uint64_t(cfg.output_queue_chunks) * cfg.chunk_bytes;
  waiting_.resize(ports);
  in_flight_.assign(ports, 0);
  buffer_peak_ = &stats.scalar("reduction_buffer_peak_bytes", "bytes",
                               "most bytes of partial sums held in the switch at once");
  for (uint32_t p = 0; p < ports; ++p) {
    in.emplace_back(std::make_unique<tlm_utils::simple_target_socket_tagged<SwitchFabric>>(
        ("in" + std::to_string(p)).c_str()));
    in.back()->register_nb_transport_fw(this, &SwitchFabric::nb_fw, int(p));
    for (uint32_t i = 0; i < outs_; ++i) {
      const uint32_t o = p * outs_ + i;
      out.emplace_back(std::make_unique<tlm_utils::simple_initiator_socket_tagged<SwitchFabric>>(
          ("out" + std::to_string(p) + (outs_ > 1 ? "_" + std::to_string(i) : "")).c_str()));
      out.back()->register_nb_transport_bw(this, &SwitchFabric::nb_bw, int(o));
      fwd_.emplace_back(
          [this, o](tlm::tlm_generic_payload& t, tlm::tlm_phase& ph, sc_core::sc_time& d) {
            return (*out[o])->nb_transport_fw(t, ph, d);
          },
          [this](tlm::tlm_generic_payload& t) { answered(t); });
    }
  }
}

tlm::tlm_sync_enum SwitchFabric::nb_fw(int port, tlm::tlm_generic_payload& trans,
                                       tlm::tlm_phase& ph, sc_core::sc_time& delay) {
  if (ph == tlm::END_RESP) return tlm::TLM_COMPLETED;
  if (ph != tlm::BEGIN_REQ) return tlm::TLM_ACCEPTED;
  if (const ReduceExtension* ext = trans.get_extension<ReduceExtension>(); ext && ext->group) {
    if (!core_.config().in_network_reduction || !trans.is_write()) {
      trans.set_response_status(tlm::TLM_COMMAND_ERROR_RESPONSE);
      return tlm::TLM_COMPLETED;
    }
    routes_.set(&trans, Route{uint32_t(port), uint32_t(port)});
    const Contribution c{uint32_t(port), &trans};
    if (delay > sc_core::SC_ZERO_TIME)
      throw sim::SimulationError("fabric: an annotated delay on a contribution is not supported");
    if (admit(*ext))
      contribute_at(c);
    else
      held_.push_back(c);
    ph = tlm::END_REQ;
    return tlm::TLM_UPDATED;
  }
  const uint32_t dst = decode_(trans.get_address());
  if (dst >= core_.ports()) {
    trans.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
    return tlm::TLM_COMPLETED;
  }
  const bool write = trans.is_write();
  const uint64_t len = trans.get_data_length();
  const double t0 = double((sc_core::sc_time_stamp() + delay).value());
  const double at_dst = write ? core_.send(uint32_t(port), dst, kHeaderBytes + len, t0)
                              : core_.control(uint32_t(port), dst, kHeaderBytes, t0);
  routes_.set(&trans, Route{uint32_t(port), dst});
  arrive_q_.push_at(at_dst, &trans);
  ph = tlm::END_REQ;
  return tlm::TLM_UPDATED;
}

tlm::tlm_sync_enum SwitchFabric::nb_bw(int port, tlm::tlm_generic_payload& trans,
                                       tlm::tlm_phase& ph, sc_core::sc_time&) {
  return fwd_[uint32_t(port)].bw(trans, ph);
}

void SwitchFabric::answered(tlm::tlm_generic_payload& trans) {
  const Route r = route_of(trans);
  const bool write = trans.is_write();
  const double now = double(sc_core::sc_time_stamp().value());
  const double back = write ? core_.control(r.dst, r.src, kHeaderBytes, now)
                            : core_.send(r.dst, r.src, kHeaderBytes + trans.get_data_length(), now);
  return_q_.push_at(back, &trans);
}

void SwitchFabric::returned(tlm::tlm_generic_payload& trans) {
  const uint32_t src = route_of(trans).src;
  routes_.erase(&trans);
  tlm::tlm_phase ph = tlm::BEGIN_RESP;
  sc_core::sc_time d = sc_core::SC_ZERO_TIME;
  if ((*in[src])->nb_transport_bw(trans, ph, d) == tlm::TLM_ACCEPTED)
    throw sim::SimulationError("fabric: the initiator must take a response at once (END_RESP)");
}

// A contribution that opens a new sum needs room in the reduction buffer (an empty
// buffer takes any one, so an oversized burst cannot wait forever). True: admitted.
bool SwitchFabric::admit(const ReduceExtension& ext) {
  const auto key = std::make_pair(ext.group->id, ext.offset);
  if (open_.count(key) == 0) {
    if (held_bytes_ > 0 && held_bytes_ + ext.bytes > buffer_bytes_) return false;
    held_bytes_ += ext.bytes;
    buffer_peak_->set(std::max(buffer_peak_->value(), double(held_bytes_)));
  }
  return true;
}

// Contributions are striped over the planes chunk by chunk of the piece.
uint32_t SwitchFabric::plane_of(const ReduceExtension& ext) const {
  return uint32_t((ext.offset / core_.config().chunk_bytes) % core_.planes());
}

void SwitchFabric::contribute_at(const Contribution& c) {
  const ReduceExtension& ext = *c.trans->get_extension<ReduceExtension>();
  open_[std::make_pair(ext.group->id, ext.offset)].srcs.push_back(c.port);
  const double now = double(sc_core::sc_time_stamp().value());
  const double in_at = core_.contribute(c.port, plane_of(ext), kHeaderBytes + ext.bytes, now);
  contrib_q_.push_at(in_at, c);
}

void SwitchFabric::contribution_in(Contribution& c) {
  const ReduceExtension& ext = *c.trans->get_extension<ReduceExtension>();
  if (++open_.at(std::make_pair(ext.group->id, ext.offset)).count == ext.group->contributors)
    sum_complete(ext);
  // The acknowledgement takes one link latency back.
  c.trans->set_response_status(tlm::TLM_OK_RESPONSE);
  return_q_.push(sc_core::sc_time(core_.config().link_latency_ns, sc_core::SC_NS), c.trans);
}

// The last contribution is in: multicast the sum to every member and free its room.
void SwitchFabric::sum_complete(const ReduceExtension& ext) {
  const std::shared_ptr<const ReduceGroup> g = ext.group;
  const auto key = std::make_pair(g->id, ext.offset);
  Pending& p = open_.at(key);
  std::vector<uint32_t> dsts(g->results.size());
  for (size_t m = 0; m < dsts.size(); ++m) dsts[m] = decode_(g->results[m]);
  std::vector<double> arrive;
  core_.multicast(p.srcs, dsts, plane_of(ext), kHeaderBytes + ext.bytes,
                  double(sc_core::sc_time_stamp().value()), arrive);
  for (size_t m = 0; m < dsts.size(); ++m)
    dispatch({dsts[m], arrive[m], g->results[m] + ext.offset, ext.bytes, g, uint32_t(m), false});
  open_.erase(key);
  held_bytes_ -= ext.bytes;
  // Room again: admit the AT contributions that waited, in order (those whose sum is
  // open need none).
  std::deque<Contribution> still;
  for (const Contribution& h : held_) {
    if (admit(*h.trans->get_extension<ReduceExtension>()))
      contribute_at(h);
    else
      still.push_back(h);
  }
  held_.swap(still);
}

void SwitchFabric::dispatch(Delivery d) {
  const uint32_t port = d.port;
  waiting_[port].push_back(std::move(d));
  start_deliveries(port);
}

void SwitchFabric::start_deliveries(uint32_t port) {
  std::deque<Delivery>& q = waiting_[port];
  while (!q.empty() &&
         (in_flight_[port] == 0 || in_flight_[port] + q.front().bytes <= window_bytes_)) {
    in_flight_[port] += q.front().bytes;
    jobs_.push_back(std::move(q.front()));
    q.pop_front();
    if (!idle_.empty()) {
      sc_core::sc_event* ev = idle_.back();
      idle_.pop_back();
      ev->notify(sc_core::SC_ZERO_TIME);
      continue;
    }
    sim::take_thread(std::string(name()) + " multicast");
    sc_core::sc_event* ev = &worker_ev_.emplace_back();
    sc_core::sc_spawn_options opt;
    sc_core::sc_spawn([this, ev] { worker_thread(ev); }, sc_core::sc_gen_unique_name("deliver"),
                      &opt);
  }
}

void SwitchFabric::worker_thread(sc_core::sc_event* ev) {
  tlm::tlm_generic_payload p;
  std::vector<uint8_t> buf;
  for (;;) {
    while (jobs_.empty()) {
      idle_.push_back(ev);
      wait(*ev);
    }
    Delivery d = std::move(jobs_.front());
    jobs_.pop_front();
    deliver(d, p, buf);
  }
}

void SwitchFabric::deliver(Delivery& d, tlm::tlm_generic_payload& p, std::vector<uint8_t>& buf) {
  const sc_core::sc_time at = sc_core::sc_time::from_value(uint64_t(d.at_ps + 0.5));
  if (at > sc_core::sc_time_stamp()) wait(at - sc_core::sc_time_stamp());
  const uint32_t len = d.signal ? 4 : d.bytes;
  buf.assign(std::max<uint32_t>(len, 4), 0);
  if (d.signal) buf[0] = 1;  // little-endian 1: the semaphore adds one
  p.set_command(tlm::TLM_WRITE_COMMAND);
  p.set_address(d.addr);
  p.set_data_ptr(buf.data());
  p.set_data_length(len);
  p.set_streaming_width(len);
  p.set_byte_enable_ptr(nullptr);
  p.set_dmi_allowed(false);
  p.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
  sc_core::sc_time t = sc_core::SC_ZERO_TIME;
  (*out[out_index(d.port, d.addr)])->b_transport(p, t);
  wait(t);
  if (p.is_response_error())
    throw sim::SimulationError("fabric: multicast write to address " + std::to_string(d.addr) +
                               " failed: " + p.get_response_string());
  in_flight_[d.port] -= d.bytes;
  start_deliveries(d.port);
  if (d.signal) return;
  // The member's whole piece has landed: signal its semaphore (after the data).
  const auto key = std::make_pair(d.group->id, d.member);
  uint64_t& landed = landed_[key];
  landed += d.bytes;
  if (landed < d.group->bytes) return;
  landed_.erase(key);
  const double now = double(sc_core::sc_time_stamp().value());
  const double arrive = core_.from_switch(d.port, 0, kHeaderBytes + 4, now);
  dispatch({d.port, arrive, d.group->semaphores[d.member], 4, d.group, d.member, true});
}

}  // namespace tessera::noc
