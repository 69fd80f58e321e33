// An input-buffered virtual-channel router with credit-based flow control: per input
// VC a FIFO and a state machine (idle -> routing -> VC allocation -> active), separable
// VC and switch allocators, wormhole packets of head/body/tail flits. Each pipeline
// stage has its own configurable delay. Options: speculative switch allocation (a head
// bids for the switch while it asks for a VC) and several switch allocation iterations
// (lookahead routing is a timing change NetworkCore makes), and input speedup (each
// input port has S crossbar inputs, VC v on input v mod S, so up to S of its VCs can
// cross in one cycle to different outputs). Plain C++, stepped by
// NetworkCore only while it holds flits.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "noc/topology.h"

namespace tessera::sim {
class Counter;
}

namespace tessera::noc {

class NetworkCore;

struct Flit {
  uint32_t pkt = 0;  // packet id (NetworkCore's packet table)
  // Position in the packet; a head flit (position 0) carries its destination endpoint
  // here instead, and its message class in `flags`, as a real head flit does, so that
  // routing and VC allocation read the flit, not the packet table.
  uint16_t seq = 0;
  uint8_t flags = 0;  // kHead, kTail; bits 2-7: message class
  uint8_t vc = 0;     // VC it occupies (downstream of the link it is on)
  static constexpr uint8_t kHead = 1, kTail = 2;
  static constexpr uint32_t kClassShift = 2;
  bool head() const { return flags & kHead; }
  bool tail() const { return flags & kTail; }
  uint32_t position() const { return head() ? 0 : seq; }
  uint32_t dst() const { return seq; }  // head flits only
  uint32_t mclass() const { return flags >> kClassShift; }
};

// One end of a link: an input port of a router, or an endpoint (interface).
struct LinkEnd {
  uint32_t id = 0;    // router or endpoint
  uint16_t port = 0;  // router input port (routers only)
  uint8_t node = 0;   // 1: `id` is an endpoint
  uint8_t valid = 0;  // 0: no link (mesh edge)
};

struct RouterTiming {
  uint32_t rc = 1, va = 1, sa = 1, xbar = 1, link = 1, credit = 1;
};

// Aligned so that the hot members at its start share one cache line.
class alignas(64) Router {
 public:
  enum VcState : uint8_t { kIdle, kRouting, kVcAlloc, kActive };

  Router(uint32_t id, uint32_t ports, uint32_t vcs, uint32_t depth, bool islip,
         bool wait_tail_credit, bool speculative, uint32_t iterations, uint32_t input_speedup = 1);
  // One cycle of route computation, VC allocation and switch allocation; returns
  // has_work() afterwards.
  bool step(NetworkCore& core, uint64_t now);
  // A flit written into input (port, vc) by a link; false when the buffer was full
  // (a flow-control violation: the caller reports it).
  bool accept(uint32_t port, const Flit& f) {
    const uint32_t ivc = port * vcs_ + f.vc;
    InVc& iv = in_[ivc];
    if (iv.count == depth_) return false;
    uint32_t slot = iv.head + iv.count;
    if (slot >= depth_) slot -= depth_;
    buf_[size_t(ivc) * depth_ + slot] = f;
    if (iv.count == 0) {
      if (iv.state == kIdle) {
        set_va(port, 1u << f.vc);  // a head needing a route
      } else if (iv.state == kActive) {
        set_sa(port, 1u << f.vc);  // a body flit of a packet that holds an output VC
      }
    }
    ++iv.count;
    if (iv.count > max_occupancy_) max_occupancy_ = iv.count;
    return true;
  }
  // A credit for output (port, vc); `tail` frees the VC (the packet left it downstream).
  // Returns true when it woke an input VC that was parked for want of credit (the
  // router then has switch-allocation work again).
  bool credit(uint32_t port, uint32_t vc, bool tail) {
    OutVc& o = out_[port * vcs_ + vc];
    ++o.credits;
    bool woke = false;
    if (wait_tail_credit_ && tail) {  // the option first: it is steady, `tail` is not
      o.busy = false;
      woke = wake_va(port);
    }
    if (o.parked_owner >= 0) {
      const uint32_t ivc = uint32_t(o.parked_owner);
      o.parked_owner = -1;
      const uint32_t p = ivc / vcs_;
      set_sa(p, 1u << (ivc - p * vcs_));
      return true;
    }
    return woke;
  }
  // The per-step scratch: `touched` of ports x vcs entries, and (routers of at most 64
  // ports) `sa_req` of ports words, all zero. A step leaves sa_req zero again, so the
  // routers of a network, stepped one at a time, share one of each (it stays in cache).
  void share_scratch(uint32_t* touched, uint64_t* sa_req) {
    touched_ = touched;
    sa_req_ = ports_ <= 64 ? sa_req : nullptr;
  }
  // Something to allocate next cycle (idle routers and routers whose every flit waits
  // for a credit are not stepped).
  bool has_work() const { return any_bit(sa_ports_, va_ports_, words_); }
  // Cache hints (NetworkCore::step issues them a few routers or events ahead): a
  // router's allocation state (port bit sets, ports, input and output VCs) before its
  // step, the input VC and buffer an arriving flit lands in, the output VC a credit
  // returns to.
  void prefetch_state() const {
    // Five lines at a time, unrolled (a loop per line cost more than the misses it
    // saved): the textbook router's hot state is ten lines.
    const char* b = reinterpret_cast<const char*>(va_ports_);
    const char* const end = b + 64 * hot_lines_;
    for (; b < end; b += 5 * 64) {
      __builtin_prefetch(b);
      __builtin_prefetch(b + 64);
      __builtin_prefetch(b + 128);
      __builtin_prefetch(b + 192);
      __builtin_prefetch(b + 256);
    }
  }
  void prefetch_input(uint32_t port, uint32_t vc) const {
    const uint32_t ivc = port * vcs_ + vc;
    __builtin_prefetch(&in_[ivc], 1);
    __builtin_prefetch(&buf_[size_t(ivc) * depth_], 1);
  }
  void prefetch_output(uint32_t port, uint32_t vc) const {
    __builtin_prefetch(&out_[port * vcs_ + vc], 1);
  }
  void set_output(uint32_t port, bool eject, int32_t credits);
  // Credits of one output VC (a bounded ejection buffer: NetworkCore::bound_ejection).
  void set_output_credits(uint32_t port, uint32_t vc, int32_t credits) {
    out_[port * vcs_ + vc].credits = credits;
  }
  uint32_t max_occupancy() const { return max_occupancy_; }
  uint32_t id() const { return id_; }
  // Speculative switch grants lost because the head did not win its VC (wasted slots).
  uint64_t misspeculations() const { return misspeculations_; }
  // Flits sent on an output port; NetworkCore::publish copies them into the registry
  // (plain counters here keep the hot path off the registry's scattered storage).
  uint64_t sent(uint32_t port) const { return sent_[port]; }
  // One line per non-empty VC: what it holds and what it waits for (deadlock report).
  void describe_blocked(const Topology& topo, std::vector<std::string>& out, uint64_t now) const;

 private:
  struct InVc {
    uint16_t head = 0, count = 0;
    VcState state = kIdle;
    uint8_t out_port = 0, out_vc = 0;
    uint8_t in_class = 0;
    uint8_t va_rr = 0;
    uint8_t va_parked = 0;  // head waits (out of va_mask) for an output VC to free
    uint8_t spec_port = 0;  // output port of this cycle's speculative switch request
    RouteChoice route;
    uint64_t ready = 0;
  };
  struct OutVc {
    int32_t credits = 0;
    // The input VC holding this output VC, parked (out of sa_mask) while credits are 0,
    // so that a blocked VC costs nothing per cycle; -1: none.
    int32_t parked_owner = -1;
    int32_t va_best = -1;  // VC allocation: winning input VC this cycle
    uint16_t va_ptr = 0;   // VC allocation: input VC with priority
    bool busy = false;
  };
  // Per port, its input side and its output side in one place (a flit-hop touches
  // both), so that a router's hot state is a few contiguous arrays.
  // Switch allocation state of one crossbar input: the port's own with no input
  // speedup, one per group of VCs (VC v on crossbar input v mod S) with speedup S.
  struct XIn {
    uint16_t in_ptr = 0;   // VC with priority
    uint8_t req_vc = 0;    // its requesting VC this cycle
    uint8_t req_spec = 0;  // that request is speculative
  };
  // 32 bytes: two ports to a cache line. What only some routers or the statistics use
  // is kept apart (PortExt, sent_).
  struct Port {
    // Input: one bit per VC whose head waits for route/VC allocation, and per VC
    // holding flits of a packet that has its output VC (switch allocation candidates).
    uint32_t va_mask = 0, sa_mask = 0;
    XIn xin;                  // input: its crossbar input (no input speedup)
    uint16_t sa_out_ptr = 0;  // output: crossbar input with priority
    uint8_t eject = 0;        // output ejects to an endpoint (unbounded unless bound_ejection)
    uint8_t waiters = 0;      // output: va_waiters_ of this port is not empty
    // Where the output's flits and the input's credits go (NetworkCore fills these
    // once, so the hot path does no topology look-ups).
    LinkEnd down, up;
  };
  static_assert(sizeof(Port) == 32, "two ports to a cache line");
  // Per port, switch allocation state of speculative, iterating or large routers (the
  // textbook router allocates outputs with request bit sets instead, sa_req_).
  struct PortExt {
    // Input, speculative routers only: heads that asked for an output VC this cycle and
    // bid for the switch at the same time, before knowing whether they got the VC.
    uint32_t spec_mask = 0;
    int32_t sa_best = -1;       // output: winning non-speculative crossbar input this cycle
    int32_t sa_best_spec = -1;  // output: winning speculative crossbar input this cycle
  };
  // kVcs, kDepth, kPorts: sizes fixed at compile time for the common router (0: read
  // from the members).
  template <bool kExtended, uint32_t kVcs, uint32_t kDepth, uint32_t kPorts>
  bool step_impl(NetworkCore& core, uint64_t now);
  const Flit& front(uint32_t ivc) const { return buf_[size_t(ivc) * depth_ + in_[ivc].head]; }

  // Which compiled step runs: speculation / iterations, a plain router with its sizes
  // as constants (kFixed + 4 * (vcs == 4) + ports - 5: 2 or 4 VCs x 8 flits, 5 to 8
  // ports), or any other plain router.
  enum Impl : uint8_t { kExtended, kFixed, kPlain = kFixed + 8 };
  // What every step, accept and credit reads, first: one cache line of the object.
  Port* port_ = nullptr;
  InVc* in_ = nullptr;
  OutVc* out_ = nullptr;
  Flit* buf_ = nullptr;
  // va_ports_/sa_ports_: one bit per input port whose va_mask/sa_mask is non-zero, so
  // a cycle visits only ports with work (a crossbar may have thousands of ports).
  uint64_t* va_ports_ = nullptr;
  uint64_t* sa_ports_ = nullptr;
  uint32_t vcs_, depth_;
  bool islip_;
  bool wait_tail_credit_;
  Impl impl_ = kPlain;
  bool active_flag = false;     // on the core's active list
  uint8_t hot_lines_ = 0;       // cache lines of the arena before the buffers (at most 16)
  uint16_t max_occupancy_ = 0;  // flits (a VC holds at most 256)
  // Next, the rest of a step's state.
  uint32_t* touched_ = nullptr;  // scratch list, ports x vcs entries
  // Switch allocation of a plain router with at most 64 ports: per output port, one bit
  // per input port requesting it this cycle (the round-robin pick is then a shift and
  // a count of trailing zeros); all zero between cycles.
  uint64_t* sa_req_ = nullptr;
  PortExt* px_ = nullptr;     // per port
  uint64_t* sent_ = nullptr;  // per output port: flits sent
  uint32_t id_, ports_;
  bool speculative_;
  uint32_t iterations_;        // switch allocation iterations per cycle
  uint32_t speedup_;           // crossbar inputs per input port (input speedup)
  uint32_t xwords_ = 0;        // 64-bit words of a per-crossbar-input bit set
  XIn* xin_ = nullptr;         // crossbar inputs, with input speedup > 1
  uint32_t sub_mask_[8] = {};  // VCs on each crossbar input of a port
  uint64_t misspeculations_ = 0;
  // All per-router arrays live in one allocation, hottest first, reached through
  // plain pointers: fewer cache lines per step than a dozen separate vectors.
  std::unique_ptr<uint64_t[]> arena_;
  uint32_t words_ = 0;              // 64-bit words of a per-port bit set
  uint64_t* spec_ports_ = nullptr;  // same for spec_mask (speculative routers only)
  // Switch allocation with several iterations: crossbar inputs and output ports
  // matched so far this cycle.
  uint64_t* in_matched_ = nullptr;
  uint64_t* out_matched_ = nullptr;
  static bool any_bit(const uint64_t* a, const uint64_t* b, uint32_t words) {
    for (uint32_t i = 0; i < words; ++i)
      if (a[i] | b[i]) return true;
    return false;
  }
  // A port's VC mask and the bit set of ports with a non-empty mask, kept together.
  static void set_bit(uint32_t& mask, uint64_t* ports, uint32_t port, uint32_t bits) {
    mask |= bits;
    ports[port >> 6] |= uint64_t(1) << (port & 63);
  }
  // Branch-free: whether the mask empties depends on the traffic and predicts badly.
  static void clear_bit(uint32_t& mask, uint64_t* ports, uint32_t port, uint32_t bits) {
    mask &= ~bits;
    ports[port >> 6] &= ~(uint64_t(mask == 0) << (port & 63));
  }
  void set_va(uint32_t port, uint32_t bits) { set_bit(port_[port].va_mask, va_ports_, port, bits); }
  void clear_va(uint32_t port, uint32_t bits) {
    clear_bit(port_[port].va_mask, va_ports_, port, bits);
  }
  void set_sa(uint32_t port, uint32_t bits) { set_bit(port_[port].sa_mask, sa_ports_, port, bits); }
  void clear_sa(uint32_t port, uint32_t bits) {
    clear_bit(port_[port].sa_mask, sa_ports_, port, bits);
  }
  // Per output port, the input VCs whose head found every candidate output VC busy:
  // parked until a VC of that port is freed, instead of retrying every cycle (a failed
  // request changes nothing, so waking them only then gives the same allocation).
  std::vector<std::vector<uint32_t>> va_waiters_;
  bool wake_va(uint32_t out_port) {
    if (!port_[out_port].waiters) return false;
    port_[out_port].waiters = 0;
    std::vector<uint32_t>& w = va_waiters_[out_port];
    bool woke = false;
    for (uint32_t ivc : w) {
      InVc& iv = in_[ivc];
      if (!iv.va_parked) continue;  // already woken through another candidate port
      iv.va_parked = 0;
      const uint32_t p = ivc / vcs_;
      set_va(p, 1u << (ivc - p * vcs_));
      woke = true;
    }
    w.clear();
    return woke;
  }
  friend class NetworkCore;
};

}  // namespace tessera::noc
