// Configuration of the on-chip network, die-to-die links and the switch fabric.
// Plain structs: the config loader fills and validates them, the builders read them.
#pragma once

#include <cstdint>
#include <string>

#include "models/sim/config_schema.h"

namespace tessera::noc {

// One on-chip network (per chiplet). Dimensions (k, x×y, ring size, crossbar ports)
// come from the machine that builds it, not from here.
struct NocConfig {
  std::string topology = "mesh";
  std::string routing = "dor";
  std::string allocator = "round_robin";
  uint32_t vcs = 2;
  uint32_t vc_buffer_flits = 8;
  uint32_t flit_bytes = 32;
  // Router pipeline, one entry per stage (the textbook router is 1/1/1/1 and 1-cycle links).
  uint32_t routing_cycles = 1;
  uint32_t vc_alloc_cycles = 1;
  uint32_t sw_alloc_cycles = 1;
  uint32_t crossbar_cycles = 1;
  uint32_t link_cycles = 1;
  uint32_t credit_cycles = 1;
  // false: an output VC may take a new packet once the previous tail has been sent;
  // true: only once the tail's credit came back (the next buffer is empty of it).
  bool wait_for_tail_credit = false;
  // Throughput features of the literature, off in the textbook router.
  // Speculative switch allocation (Peh & Dally 2001): a head bids for the switch in the
  // cycle it asks for an output VC; the grant is used only if it also won the VC.
  bool speculative_sa = false;
  // Lookahead routing: each router computes the route of the next one (the interface
  // that of the first), so the head arrives with its output port known.
  bool lookahead_routing = false;
  // Switch allocation iterations per cycle (unmatched inputs and outputs try again).
  uint32_t sw_alloc_iterations = 1;
  // Input speedup: crossbar inputs per input port (VC v on input v mod S), so up to S
  // VCs of one port cross in the same cycle, to different outputs.
  uint32_t input_speedup = 1;
  // Network interfaces: the largest packet a transaction is cut into.
  uint32_t max_packet_flits = 9;
  // A memory's network interface (an HBM port): flits of requests it holds per request
  // VC until the memory takes them; beyond, they wait in the routers. 0: unbounded.
  uint32_t target_buffer_flits = 16;
  // Deadlock/livelock watch: cycles without any flit moving while flits are inside.
  uint32_t watchdog_cycles = 10000;
  double pj_per_flit_hop = 10.0;
  // Width-dependent part: buffers, crossbar and link switch every bit of the flit.
  double pj_per_bit_hop = 0.0;
  double flit_hop_pj() const { return pj_per_flit_hop + pj_per_bit_hop * 8.0 * flit_bytes; }

  // Cycles a head spends in one router and its output link: route computation (none
  // with lookahead: it was done upstream), VC and switch allocation (one combined stage
  // of sw_alloc_cycles when speculative), crossbar, link.
  uint32_t router_cycles() const {
    return (lookahead_routing ? 0 : routing_cycles) + lookahead_window();
  }
  // VC and switch allocation: one combined stage of sw_alloc_cycles when speculative.
  uint32_t alloc_cycles() const {
    return speculative_sa ? sw_alloc_cycles : vc_alloc_cycles + sw_alloc_cycles;
  }
  // Lookahead: the next router's route is computed while the head is allocated,
  // switched and sent, so it must fit in that time.
  uint32_t lookahead_window() const { return alloc_cycles() + crossbar_cycles + link_cycles; }
  // The pipelines the options can overlap (checked at load and by NetworkCore).
  bool speculation_fits() const { return !speculative_sa || vc_alloc_cycles <= sw_alloc_cycles; }
  bool lookahead_fits() const { return !lookahead_routing || routing_cycles <= lookahead_window(); }
  // A memory's request buffer holds the largest packet (a request whose last packet did
  // not fit would never arrive whole); checked at load where it exists and by Network.
  bool target_buffer_fits() const {
    return target_buffer_flits == 0 || target_buffer_flits >= max_packet_flits;
  }

  template <class V>
  void visit(V& v) {
    v.choice("topology", topology, {"mesh", "torus", "ring", "crossbar"}, "on-chip topology");
    v.choice("routing", routing, {"dor", "west_first"},
             "dor: dimension order (mesh, torus; shortest way on a ring); west_first: "
             "minimal adaptive turn-model routing (mesh only)");
    v.choice("allocator", allocator, {"round_robin", "islip"},
             "separable switch allocator: input-first round-robin or iSLIP-style "
             "(pointers move only on accepted grants)");
    v.field("vcs", vcs, "", "virtual channels per port", sim::Range{1, 16});
    v.field("vc_buffer_flits", vc_buffer_flits, "flits", "buffer depth per VC", sim::Range{1, 256});
    v.field("flit_bytes", flit_bytes, "bytes", "flit (and link) width", sim::Range{1, 1024});
    v.field("routing_cycles", routing_cycles, "cycles", "route computation stage",
            sim::Range{0, 16});
    v.field("vc_alloc_cycles", vc_alloc_cycles, "cycles", "VC allocation stage", sim::Range{0, 16});
    v.field("sw_alloc_cycles", sw_alloc_cycles, "cycles", "switch allocation stage",
            sim::Range{0, 16});
    v.field("crossbar_cycles", crossbar_cycles, "cycles", "switch traversal stage",
            sim::Range{0, 16});
    v.field("link_cycles", link_cycles, "cycles", "link traversal between routers",
            sim::Range{1, 64});
    v.field("credit_cycles", credit_cycles, "cycles", "credit return delay", sim::Range{1, 64});
    v.field("wait_for_tail_credit", wait_for_tail_credit, "",
            "reallocate an output VC only after the tail's credit returns (atomic VCs)");
    v.field("speculative_sa", speculative_sa, "",
            "speculative switch allocation in parallel with VC allocation (Peh & Dally "
            "2001): non-speculative bids win, a head that loses its VC wastes its grant");
    v.field("sw_alloc_iterations", sw_alloc_iterations, "",
            "switch allocation iterations per cycle: inputs and outputs left unmatched "
            "try again (pointers move in the first only, as in iSLIP)",
            sim::Range{1, 8});
    v.field("input_speedup", input_speedup, "",
            "crossbar inputs per router input port; VC v uses input v mod S, so up to S "
            "VCs of a port can cross in one cycle to different outputs (1: none)",
            sim::Range{1, 8});
    v.field("lookahead_routing", lookahead_routing, "",
            "route computed one router ahead (at the interface for the first router), "
            "off the head's critical path");
    v.field("max_packet_flits", max_packet_flits, "flits",
            "largest packet (header + data flits) a transaction is cut into", sim::Range{2, 1024});
    v.field("target_buffer_flits", target_buffer_flits, "flits",
            "request buffer of a memory's network interface (an HBM port's own, with "
            "io_ports: dedicated) per request VC: requests the memory has not taken wait "
            "there, and once it is full in the routers (backpressure); at least "
            "max_packet_flits, or 0: unbounded",
            sim::Range{0, 65535});
    v.field("watchdog_cycles", watchdog_cycles, "cycles",
            "stop with a deadlock report after this many cycles without a flit moving",
            sim::Range{10, 1e9});
    v.field("pj_per_flit_hop", pj_per_flit_hop, "pJ",
            "energy of one flit through one router and its output link, whatever its width "
            "(with pj_per_bit_hop: the per-flit part, e.g. arbitration)",
            sim::Range{0, 1e6});
    v.field("pj_per_bit_hop", pj_per_bit_hop, "pJ/bit",
            "energy per bit of a flit through one router and its output link (buffers, "
            "crossbar, wires), added to pj_per_flit_hop: a wider flit then costs more per "
            "hop. 0: the flit's energy does not depend on its width",
            sim::Range{0, 1e3});
    v.check(routing != "west_first" || topology == "mesh", "routing",
            "west_first routing needs topology mesh");
    v.check(speculation_fits(), "speculative_sa",
            "speculative switch allocation needs vc_alloc_cycles <= sw_alloc_cycles (the VC "
            "must be known when the switch grant is used)");
    v.check(input_speedup <= vcs, "input_speedup",
            "input_speedup cannot exceed vcs (each crossbar input serves at least one VC)");
    v.check(lookahead_fits(), "lookahead_routing",
            "lookahead routing needs routing_cycles <= the allocation, crossbar and link "
            "cycles it overlaps with");
  }
};

// A UCIe-style die-to-die link, per direction.
struct D2dConfig {
  uint32_t lanes = 64;
  double gbps_per_lane = 16;
  double latency_ns = 2.0;
  uint32_t flit_payload_bytes = 64;
  uint32_t flit_overhead_bytes = 4;
  double pj_per_bit = 0.5;
  uint32_t attach_nodes = 1;
  uint32_t buffer_bytes = 4096;
  template <class V>
  void visit(V& v) {
    v.field("lanes", lanes, "lanes", "UCIe lanes per link and direction", sim::Range{1, 1024});
    v.field("gbps_per_lane", gbps_per_lane, "Gb/s", "rate of one lane", sim::Range{0.1, 256});
    v.field("latency_ns", latency_ns, "ns",
            "one-way latency (PHY + adapter), excluding serialisation", sim::Range{0, 1e6});
    v.field("flit_payload_bytes", flit_payload_bytes, "bytes", "payload carried by one link flit",
            sim::Range{1, 4096});
    v.field("flit_overhead_bytes", flit_overhead_bytes, "bytes",
            "header/CRC bytes added to every link flit", sim::Range{0, 4096});
    v.field("pj_per_bit", pj_per_bit, "pJ/bit", "energy per bit on the wire (overhead included)",
            sim::Range{0, 1e3});
    v.field("attach_nodes", attach_nodes, "nodes",
            "NoC nodes of a chiplet that reach each end of a link, evenly spaced along the "
            "chiplet edge of the link's end (1: its middle node); addresses alternate between "
            "them every 4 KiB. Clamped to the edge's length. The link's bandwidth stays lanes "
            "x gbps_per_lane: one node's links move one NoC flit per cycle each way",
            sim::Range{1, 64});
    v.field("buffer_bytes", buffer_bytes, "bytes",
            "per direction, request bytes a link holds between taking them from its network "
            "and the far network taking them (transmit queue, wire and receive queue under "
            "credit flow control, credits returning after latency_ns); a request waits for "
            "room (END_REQ is held), one larger than the buffer goes alone. The default is "
            "about a UCIe retry buffer, a round trip of a few ns at the link's rate. "
            "0: unbounded",
            sim::Range{0, 1e9});
  }
};

// An NVSwitch-style switch between packages.
struct FabricConfig {
  double port_gbytes_per_s = 450;
  double link_latency_ns = 100;
  double switch_latency_ns = 200;
  uint32_t planes = 1;
  uint32_t chunk_bytes = 4096;
  uint32_t output_queue_chunks = 16;
  bool in_network_reduction = true;
  uint32_t reduction_buffer_kib = 1024;
  double pj_per_bit = 2.0;
  uint32_t attach_nodes = 1;
  template <class V>
  void visit(V& v) {
    v.field("port_gbytes_per_s", port_gbytes_per_s, "GB/s",
            "bandwidth of one port per direction, all planes together", sim::Range{0.1, 1e5});
    v.field("link_latency_ns", link_latency_ns, "ns", "endpoint-to-switch link latency",
            sim::Range{0, 1e6});
    v.field("switch_latency_ns", switch_latency_ns, "ns", "input-to-output latency of the switch",
            sim::Range{0, 1e6});
    v.field("planes", planes, "planes", "independent switch planes; traffic is striped over them",
            sim::Range{1, 64});
    v.field("chunk_bytes", chunk_bytes, "bytes", "unit the fabric moves and queues",
            sim::Range{64, 1 << 24});
    v.field("output_queue_chunks", output_queue_chunks, "chunks",
            "output queue per port and plane; a full queue holds senders back",
            sim::Range{1, 1 << 20});
    v.field("in_network_reduction", in_network_reduction, "",
            "the switch can sum all-reduce contributions and multicast the result");
    v.field("reduction_buffer_kib", reduction_buffer_kib, "KiB",
            "switch buffer for partial sums waiting for their last contribution; a "
            "contribution that would open a new sum in a full buffer is held on its link",
            sim::Range{1, 1 << 20});
    v.field("pj_per_bit", pj_per_bit, "pJ/bit", "energy per bit through port links and switch",
            sim::Range{0, 1e3});
    v.field("attach_nodes", attach_nodes, "nodes",
            "NoC nodes of a package's first chiplet that reach its fabric port (spread along "
            "its south and north edges); addresses alternate between them every 4 KiB. The "
            "port's bandwidth stays port_gbytes_per_s",
            sim::Range{1, 4096});
  }
};

}  // namespace tessera::noc
