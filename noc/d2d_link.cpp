#include "noc/d2d_link.h"

#include "models/sim/errors.h"

#include <algorithm>
#include <string>

namespace tessera::noc {

D2dLink::D2dLink(sc_core::sc_module_name name, const D2dConfig& cfg, const sim::StatsScope& stats,
                 sim::EnergyLedger* energy, uint32_t a_ports, uint32_t b_ports, OutPicker port_of)
    : sc_module(name),
      a_in("a_in"),
      b_in("b_in"),
      port_of_(std::move(port_of)),
      arrive_q_("arrive",
                [this](Hop& h) {
                  std::vector<AtForward>& f = fwd_[h.dir];
                  f[pick_out(port_of_, h.trans->get_address(), uint32_t(f.size()))].push(*h.trans);
                }),
      return_q_("return", [this](Hop& h) { returned(h.dir, *h.trans); }),
      credit_q_("credit", [this](Credit& c) { credit_back(c.dir, c.bytes); }),
      cfg_(cfg) {
  if (a_ports < 1 || b_ports < 1 || a_ports >= uint32_t(kMaxPorts) ||
      b_ports >= uint32_t(kMaxPorts) || ((a_ports > 1 || b_ports > 1) && !port_of_))
    throw sim::SimulationError(std::string(this->name()) + ": bad out port count");
  // Direction 0 (A->B) leaves through side B's sockets, direction 1 through side A's.
  for (int dir = 0; dir < 2; ++dir) {
    auto& outs = dir == 0 ? b_out : a_out;
    const uint32_t n = dir == 0 ? b_ports : a_ports;
    for (uint32_t i = 0; i < n; ++i) {
      outs.emplace_back(std::make_unique<tlm_utils::simple_initiator_socket_tagged<D2dLink>>(
          ((dir == 0 ? "b_out" : "a_out") + std::to_string(i)).c_str()));
      auto* sock = outs.back().get();
      sock->register_nb_transport_bw(this, &D2dLink::nb_bw, dir * kMaxPorts + int(i));
      fwd_[dir].emplace_back(
          [sock](tlm::tlm_generic_payload& p, tlm::tlm_phase& ph, sc_core::sc_time& d) {
            return (*sock)->nb_transport_fw(p, ph, d);
          },
          [this, dir](tlm::tlm_generic_payload& p) { answered(dir, p); },
          [this, dir](tlm::tlm_generic_payload& p) {
            // The far network took it: its buffer credit returns over the link.
            if (cfg_.buffer_bytes)
              credit_q_.push(sc_core::sc_time(cfg_.latency_ns, sc_core::SC_NS),
                             Credit{dir, request_bytes(p)});
          });
    }
  }
  // lanes x Gb/s -> bits per ns; a byte takes 8 / that ns.
  ps_per_byte_ = 8.0 * 1000.0 / (double(cfg.lanes) * cfg.gbps_per_lane);
  a_in.register_nb_transport_fw(this, &D2dLink::nb_fw, 0);
  b_in.register_nb_transport_fw(this, &D2dLink::nb_fw, 1);
  const char* dir[2] = {"a2b", "b2a"};
  for (int d = 0; d < 2; ++d) {
    const sim::StatsScope s = stats.child(dir[d]);
    bytes_[d] = &s.counter("payload_bytes", "bytes", "payload carried");
    flits_[d] = &s.counter("flits", "flits", "link flits sent (payload + overhead each)");
    stalls_[d] = &s.counter("buffer_stalls", "requests",
                            "requests that waited for room in the link's buffer");
    util_[d] = &s.scalar("utilisation", "ratio", "share of time the wire was busy");
  }
  if (energy)
    energy_bit_ =
        &energy->account(stats.prefix().empty() ? "d2d" : stats.prefix(), "bit", cfg.pj_per_bit);
}

uint64_t D2dLink::flits_for(uint64_t bytes) const {
  return std::max<uint64_t>(1, (bytes + cfg_.flit_payload_bytes - 1) / cfg_.flit_payload_bytes);
}

double D2dLink::wire_ps(uint64_t bytes) const {
  return double(flits_for(bytes) * (cfg_.flit_payload_bytes + cfg_.flit_overhead_bytes)) *
         ps_per_byte_;
}

double D2dLink::book(int dir, uint64_t bytes, double t, bool control) {
  const double start = control ? t : std::max(t, free_[dir]);
  const double w = wire_ps(bytes);
  // A control message goes out at once, interleaved into booked data: its flits take
  // their wire time from whatever is booked after it.
  free_[dir] = control ? std::max(free_[dir], t) + w : start + w;
  busy_ps_[dir] += w;
  const uint64_t flits = flits_for(bytes);
  *bytes_[dir] += bytes;
  *flits_[dir] += flits;
  if (energy_bit_)
    energy_bit_->charge(flits * (cfg_.flit_payload_bytes + cfg_.flit_overhead_bytes) * 8);
  return start + w + cfg_.latency_ns * 1000.0;
}

void D2dLink::publish(double elapsed_ps) {
  if (elapsed_ps <= 0) return;
  for (int d = 0; d < 2; ++d) util_[d]->set(busy_ps_[d] / elapsed_ps);
}

tlm::tlm_sync_enum D2dLink::nb_fw(int side, tlm::tlm_generic_payload& trans, tlm::tlm_phase& ph,
                                  sc_core::sc_time& delay) {
  if (ph == tlm::END_RESP) return tlm::TLM_COMPLETED;
  if (ph != tlm::BEGIN_REQ) return tlm::TLM_ACCEPTED;
  if (!waiting_[side].empty() || !fits(side, request_bytes(trans))) {
    waiting_[side].push_back(&trans);  // END_REQ when credit comes back
    ++*stalls_[side];
    return tlm::TLM_ACCEPTED;
  }
  take(side, trans, double((sc_core::sc_time_stamp() + delay).value()));
  ph = tlm::END_REQ;
  return tlm::TLM_UPDATED;
}

void D2dLink::take(int dir, tlm::tlm_generic_payload& trans, double t_ps) {
  const uint64_t bytes = request_bytes(trans);
  if (cfg_.buffer_bytes) held_[dir] += bytes;
  const double there = book(dir, bytes, t_ps, !trans.is_write());
  arrive_q_.push_at(there, Hop{dir, &trans});
}

void D2dLink::credit_back(int dir, uint64_t bytes) {
  held_[dir] -= bytes;
  while (!waiting_[dir].empty() && fits(dir, request_bytes(*waiting_[dir].front()))) {
    tlm::tlm_generic_payload& t = *waiting_[dir].front();
    waiting_[dir].pop_front();
    take(dir, t, double(sc_core::sc_time_stamp().value()));
    tlm::tlm_phase ph = tlm::END_REQ;
    sc_core::sc_time d = sc_core::SC_ZERO_TIME;
    in_of(dir)->nb_transport_bw(t, ph, d);
  }
}

tlm::tlm_sync_enum D2dLink::nb_bw(int tag, tlm::tlm_generic_payload& trans, tlm::tlm_phase& ph,
                                  sc_core::sc_time&) {
  return fwd_[tag / kMaxPorts][size_t(tag % kMaxPorts)].bw(trans, ph);
}

void D2dLink::answered(int dir, tlm::tlm_generic_payload& trans) {
  const bool write = trans.is_write();
  const double now = double(sc_core::sc_time_stamp().value());
  const double back = book(1 - dir, write ? kCommandBytes : trans.get_data_length(), now, write);
  return_q_.push_at(back, Hop{dir, &trans});
}

void D2dLink::returned(int dir, tlm::tlm_generic_payload& trans) {
  // The networks take every response at once (TLM_COMPLETED); the base protocol would
  // hold the next BEGIN_RESP until a later END_RESP, which is not modelled.
  tlm::tlm_phase ph = tlm::BEGIN_RESP;
  sc_core::sc_time d = sc_core::SC_ZERO_TIME;
  if (in_of(dir)->nb_transport_bw(trans, ph, d) == tlm::TLM_ACCEPTED)
    throw sim::SimulationError(std::string(name()) +
                               ": the initiator must take a response at once (END_RESP)");
}

}  // namespace tessera::noc
