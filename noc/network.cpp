#include "noc/network.h"

#include <algorithm>

#include "models/sim/errors.h"
#include "models/sim/thread_budget.h"

namespace tessera::noc {

using sc_core::sc_time;
using sc_core::SC_ZERO_TIME;

namespace {
Topology build_topology(const NocConfig& cfg, uint32_t kx, uint32_t ky,
                        const std::vector<uint32_t>& extra) {
  return Topology::build(parse_topology(cfg.topology), kx, ky, parse_routing(cfg.routing), extra);
}
}  // namespace

Network::Network(sc_core::sc_module_name name, const NocConfig& cfg, uint32_t kx, uint32_t ky,
                 const sim::ClockDomain& clock, Decoder decode, const sim::StatsScope& stats,
                 sim::EnergyLedger* energy, const std::vector<uint32_t>& extra_endpoints)
    : sc_module(name),
      cfg_(cfg),
      clock_(clock),
      decode_(std::move(decode)),
      core_(cfg, build_topology(cfg, kx, ky, extra_endpoints), 2, stats, energy) {
  const uint32_t n = core_.num_nodes();
  core_.set_sink(this);
  core_.watch_injections(true);  // the request queue frees as its packets leave
  serve_q_.resize(n);
  held_req_.resize(n);
  resp_q_.resize(n);
  resp_busy_.assign(n, 0);
  at_q_.resize(n);
  at_open_.assign(n, nullptr);
  req_queued_.assign(n, 0);
  for (uint32_t i = 0; i < n; ++i) {
    target.emplace_back(std::make_unique<tlm_utils::simple_target_socket_tagged_optional<Network>>(
        ("target" + std::to_string(i)).c_str()));
    target.back()->register_b_transport(this, &Network::b_transport, int(i));
    target.back()->register_nb_transport_fw(this, &Network::nb_transport_fw, int(i));
    initiator.emplace_back(std::make_unique<tlm_utils::simple_initiator_socket_tagged<Network>>(
        ("initiator" + std::to_string(i)).c_str()));
    initiator.back()->register_nb_transport_bw(this, &Network::nb_transport_bw, int(i));
    // Server threads for blocking targets: several requests may wait on one target at
    // once (one thread would serialise them behind each other's latency); more start
    // on demand (dispatch). Extra endpoints (a memory's, a link's or the fabric's own
    // interface) start none: their targets take approximately-timed requests, and a
    // blocking one would still get a server on demand.
    sleeping_.emplace_back();
    awake_.push_back(0);
    const bool extra = i >= n - uint32_t(extra_endpoints.size());
    for (uint32_t k = 0; k < (extra ? 0 : kServersPerNode); ++k) {
      spawn_server(i);
      ++awake_[i];
    }
  }
  txn_latency_ = &stats.histogram("transaction_latency", "ps",
                                  "request entering the network to response delivered");
  SC_HAS_PROCESS(Network);
  SC_METHOD(step_method);
  sensitive << wake_;
  dont_initialize();
}

uint32_t Network::request_flits(const tlm::tlm_generic_payload& t) const {
  if (!t.is_write()) return 1;
  return 1 + uint32_t((t.get_data_length() + cfg_.flit_bytes - 1) / cfg_.flit_bytes);
}

uint32_t Network::response_flits(const tlm::tlm_generic_payload& t) const {
  if (t.is_write()) return 1;
  return 1 + uint32_t((t.get_data_length() + cfg_.flit_bytes - 1) / cfg_.flit_bytes);
}

uint32_t Network::packets_for(uint32_t flits) const {
  const uint32_t data = flits - 1, per = cfg_.max_packet_flits - 1;
  return std::max<uint32_t>(1, (data + per - 1) / per);
}

void Network::send_packets(uint32_t src, uint32_t dst, uint32_t flits, uint32_t mclass,
                           uint64_t tag) {
  // Every packet carries its own header flit and up to max_packet_flits-1 data flits.
  uint32_t data = flits - 1;
  const uint32_t per = cfg_.max_packet_flits - 1;
  do {
    const uint32_t d = std::min(data, per);
    core_.inject(src, dst, 1 + d, mclass, tag);
    data -= d;
  } while (data > 0);
}

void Network::bound_ejection(const std::vector<uint32_t>& nodes) {
  if (cfg_.target_buffer_flits == 0) return;
  if (!cfg_.target_buffer_fits())
    throw sim::SimulationError(
        "noc: a target buffer of " + std::to_string(cfg_.target_buffer_flits) +
        " flits cannot hold a packet of " + std::to_string(cfg_.max_packet_flits));
  for (const uint32_t n : nodes) core_.bound_ejection(n, 0, cfg_.target_buffer_flits);
}

void Network::taken(uint64_t tag) {
  Txn& t = txns_[tag];
  if (t.eject_flits == 0) return;
  sync_core();
  core_.release_ejected(t.dst, t.eject_vc, t.eject_flits);
  t.eject_flits = 0;
}

void Network::sync_core() {
  // An idle core jumps to the next clock edge; the step method runs from there.
  if (!core_.busy()) {
    const uint64_t c = clock_.cycles_at(sim::Picoseconds::from_sc(sc_core::sc_time_stamp())).v;
    core_.skip_to(c + 1);
    wake_.notify(clock_.delay_to_edge(sc_core::sc_time_stamp()));
  }
}

uint64_t Network::start(uint32_t src, tlm::tlm_generic_payload& trans, bool nb,
                        sc_core::sc_event* done) {
  const uint32_t dst = decode_(trans.get_address());
  if (dst >= core_.num_nodes())
    throw sim::SimulationError("noc: address 0x" + std::to_string(trans.get_address()) +
                               " decodes to endpoint " + std::to_string(dst) + " of " +
                               std::to_string(core_.num_nodes()));
  const uint64_t tag = txns_.acquire();
  Txn& t = txns_[tag];
  t = Txn{};
  t.trans = &trans;
  t.src = src;
  t.dst = dst;
  t.nb = nb;
  t.done = done;
  t.start_ps = sc_core::sc_time_stamp().value();
  const uint32_t rf = request_flits(trans);
  t.req_left = packets_for(rf);
  t.resp_left = packets_for(response_flits(trans));
  if (trans.has_mm()) trans.acquire();
  sync_core();
  send_packets(src, dst, rf, 0, tag);
  req_queued_[src] += t.req_left;
  return tag;
}

void Network::b_transport(int node, tlm::tlm_generic_payload& trans, sc_time& delay) {
  wait(delay);
  delay = SC_ZERO_TIME;
  sc_core::sc_event done;
  start(uint32_t(node), trans, false, &done);
  wait(done);
  if (trans.has_mm()) trans.release();  // start() took a reference, as for nb traffic
}

tlm::tlm_sync_enum Network::nb_transport_fw(int node, tlm::tlm_generic_payload& trans,
                                            tlm::tlm_phase& phase, sc_time& delay) {
  (void)delay;
  const uint32_t n = uint32_t(node);
  if (phase == tlm::BEGIN_REQ) {
    if (req_queued_[n] < kRequestQueuePackets && held_req_[n].empty()) {
      start(n, trans, true, nullptr);
      phase = tlm::END_REQ;
      return tlm::TLM_UPDATED;
    }
    held_req_[n].push_back(&trans);  // END_REQ comes when the interface has room
    return tlm::TLM_ACCEPTED;
  }
  if (phase == tlm::END_RESP) {
    resp_busy_[n] = 0;
    respond_method_for(n);
    return tlm::TLM_COMPLETED;
  }
  return tlm::TLM_ACCEPTED;
}

tlm::tlm_sync_enum Network::nb_transport_bw(int node, tlm::tlm_generic_payload& trans,
                                            tlm::tlm_phase& phase, sc_time&) {
  const uint32_t n = uint32_t(node);
  if (phase == tlm::END_REQ) {
    if (at_open_[n] == &trans) at_open_[n] = nullptr;
    if (const uint64_t* tag = at_tag_.find(&trans)) taken(*tag);
    at_send(n);
    return tlm::TLM_ACCEPTED;
  }
  if (phase == tlm::BEGIN_RESP) {
    // Responses are taken at once (END_RESP in the return).
    at_respond(n, trans);
    at_send(n);
    phase = tlm::END_RESP;
    return tlm::TLM_COMPLETED;
  }
  return tlm::TLM_ACCEPTED;
}

void Network::at_send(uint32_t n) {
  while (!at_open_[n] && !at_q_[n].empty()) {
    const uint64_t tag = at_q_[n].front();
    at_q_[n].pop_front();
    tlm::tlm_generic_payload& trans = *txns_[tag].trans;
    at_tag_.set(&trans, tag);
    at_open_[n] = &trans;
    tlm::tlm_phase ph = tlm::BEGIN_REQ;
    sc_time d = SC_ZERO_TIME;
    const tlm::tlm_sync_enum s = (*initiator[n])->nb_transport_fw(trans, ph, d);
    if (s == tlm::TLM_ACCEPTED) continue;  // END_REQ (or BEGIN_RESP) comes on bw
    if (s == tlm::TLM_UPDATED && ph == tlm::END_REQ) {
      if (at_open_[n] == &trans) at_open_[n] = nullptr;  // not a request opened meanwhile
      taken(tag);
    } else if (s == tlm::TLM_UPDATED && ph == tlm::BEGIN_RESP) {
      at_respond(n, trans);
      tlm::tlm_phase end = tlm::END_RESP;
      sc_time ed = SC_ZERO_TIME;
      (*initiator[n])->nb_transport_fw(trans, end, ed);
    } else if (s == tlm::TLM_COMPLETED) {
      at_respond(n, trans);
    }
  }
}

void Network::at_respond(uint32_t n, tlm::tlm_generic_payload& trans) {
  const uint64_t* found = at_tag_.find(&trans);
  if (!found) throw sim::SimulationError("noc: a response for a request that is not outstanding");
  const uint64_t tag = *found;
  at_tag_.erase(&trans);
  if (at_open_[n] == &trans) at_open_[n] = nullptr;  // BEGIN_RESP ends the request phase too
  taken(tag);
  sync_core();
  send_packets(n, txns_[tag].src, response_flits(trans), 1, tag);
}

void Network::respond_method_for(uint32_t n) {
  while (!resp_busy_[n] && !resp_q_[n].empty()) {
    tlm::tlm_generic_payload* t = resp_q_[n].front();
    resp_q_[n].pop_front();
    tlm::tlm_phase ph = tlm::BEGIN_RESP;
    sc_time d = SC_ZERO_TIME;
    const tlm::tlm_sync_enum s = (*target[n])->nb_transport_bw(*t, ph, d);
    if (!(s == tlm::TLM_COMPLETED || (s == tlm::TLM_UPDATED && ph == tlm::END_RESP)))
      resp_busy_[n] = 1;
    if (t->has_mm()) t->release();
  }
}

void Network::on_injected(uint32_t, const Packet& p, uint64_t) {
  if (p.mclass != 0) return;
  const uint32_t src = p.src;
  --req_queued_[src];
  // Room in the interface's request queue again: admit a held request (its END_REQ
  // goes back now). Until the tenth session the count fell only when a packet reached
  // its destination, which made the queue an end-to-end window of 8 packets in flight.
  while (!held_req_[src].empty() && req_queued_[src] < kRequestQueuePackets) {
    tlm::tlm_generic_payload* h = held_req_[src].front();
    held_req_[src].pop_front();
    start(src, *h, true, nullptr);  // may grow txns_
    tlm::tlm_phase ph = tlm::END_REQ;
    sc_time d = SC_ZERO_TIME;
    (*target[src])->nb_transport_bw(*h, ph, d);
  }
}

void Network::on_packet(uint32_t, const Packet& p, uint64_t) {
  if (p.mclass == 0) {
    Txn& t = txns_[p.tag];
    const bool last = --t.req_left == 0;
    const bool at = last && nonblocking_ && nonblocking_(*t.trans);
    if (core_.ejection_bounded(p.dst, p.vc)) {
      if (at) {
        t.eject_vc = p.vc;
        t.eject_flits = p.flits;
      } else {
        core_.release_ejected(p.dst, p.vc, p.flits);
      }
    }
    if (last) {
      if (at) {
        at_q_[t.dst].push_back(p.tag);
        at_send(t.dst);
      } else {
        serve_q_[t.dst].push_back(p.tag);
        dispatch(t.dst);
      }
    }
    return;
  }
  Txn& t = txns_[p.tag];
  if (--t.resp_left > 0) return;
  txn_latency_->sample(sc_core::sc_time_stamp().value() - t.start_ps);
  const Txn done = t;  // the slot is free from here on
  t.trans = nullptr;
  txns_.release(uint32_t(p.tag));
  if (done.nb) {
    resp_q_[done.src].push_back(done.trans);
    respond_method_for(done.src);
  } else {
    done.done->notify(SC_ZERO_TIME);
  }
}

void Network::dispatch(uint32_t node) {
  while (awake_[node] < serve_q_[node].size()) {
    if (!sleeping_[node].empty()) {
      sleeping_[node].front()->notify(SC_ZERO_TIME);
      sleeping_[node].pop_front();
    } else {
      // A request that finds every server busy gets a new one: a server blocks until
      // its target answers, and a target may forward over a link into another
      // network, so a fixed pool could close a cycle of waits between chiplets that
      // the hardware (buffered link adapters) would not have.
      spawn_server(node);
    }
    ++awake_[node];
  }
}

void Network::spawn_server(uint32_t node) {
  sim::take_thread(std::string(name()) + " node " + std::to_string(node));
  sc_core::sc_event* ev = &server_ev_.emplace_back();
  sc_core::sc_spawn_options opt;
  sc_core::sc_spawn([this, node, ev] { serve_thread(node, ev); },
                    sc_core::sc_gen_unique_name("serve"), &opt);
}

void Network::serve_thread(uint32_t node, sc_core::sc_event* ev) {
  --awake_[node];  // counted awake when spawned
  while (true) {
    while (serve_q_[node].empty()) {
      sleeping_[node].push_back(ev);
      wait(*ev);
      --awake_[node];
    }
    const uint64_t tag = serve_q_[node].front();
    serve_q_[node].pop_front();
    Txn& t = txns_[tag];
    sc_time d = SC_ZERO_TIME;
    (*initiator[node])->b_transport(*t.trans, d);
    wait(d);
    Txn& t2 = txns_[tag];  // the table may have grown while the target ran
    sync_core();
    send_packets(node, t2.src, response_flits(*t2.trans), 1, tag);
  }
}

void Network::step_method() {
  const uint64_t c = clock_.cycles_at(sim::Picoseconds::from_sc(sc_core::sc_time_stamp())).v;
  while (core_.busy() && core_.now() <= c) core_.step();
  if (core_.busy())
    next_trigger(clock_.delay_to_edge(sc_core::sc_time_stamp()));
  else
    next_trigger(wake_);
}

}  // namespace tessera::noc
