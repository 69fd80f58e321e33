#include "noc/router.h"

#include <algorithm>
#include <climits>
#include <cstdint>
#include <memory>
#include <type_traits>

#include "models/sim/stats_registry.h"
#include "noc/network_core.h"

namespace tessera::noc {

Router::Router(uint32_t id, uint32_t ports, uint32_t vcs, uint32_t depth, bool islip,
               bool wait_tail_credit, bool speculative, uint32_t iterations, uint32_t input_speedup)
    : vcs_(vcs),
      depth_(depth),
      islip_(islip),
      wait_tail_credit_(wait_tail_credit),
      id_(id),
      ports_(ports),
      speculative_(speculative),
      iterations_(iterations < 1 ? 1 : iterations),
      speedup_(std::clamp<uint32_t>(input_speedup, 1, std::min<uint32_t>(vcs, 8))) {
  // Routers of 5 to 8 ports with 2 or 4 VCs of 8 flits (a mesh or torus router with up
  // to three extra local ports for concentration or dedicated HBM and link ports: the
  // presets' routers and the first design change tried on them) get their sizes as
  // constants.
  const bool fixed = depth_ == 8 && (vcs_ == 2 || vcs_ == 4) && ports_ >= 5 && ports_ <= 8;
  impl_ = speculative_ || iterations_ > 1 || speedup_ > 1 ? kExtended
          : fixed ? Impl(kFixed + (vcs_ == 4 ? 4 : 0) + (ports_ - 5))
                  : kPlain;
  words_ = (ports + 63) / 64;
  xwords_ = (ports * speedup_ + 63) / 64;
  for (uint32_t v = 0; v < vcs; ++v) sub_mask_[v % speedup_] |= 1u << v;
  const size_t nin = size_t(ports) * vcs;
  // One block for all arrays, packed (8-byte aligned; padding each to a cache line
  // measured more misses): offsets first, then allocate (zeroed) and construct.
  size_t bytes = 0;
  auto place = [&bytes](size_t size) {
    const size_t at = bytes;
    bytes += (size + 7) / 8 * 8;
    return at;
  };
  // Hot first: the port bit sets, ports, input and output VCs, flits sent, buffers;
  // then what only the extended routers use. The per-step scratch (touched_, sa_req_)
  // is the network's, shared by all routers (share_scratch).
  const size_t at_bits = place((4 * words_ + xwords_) * sizeof(uint64_t));
  const size_t at_port = place(ports * sizeof(Port));
  const size_t at_in = place(nin * sizeof(InVc)), at_out = place(nin * sizeof(OutVc));
  const size_t at_sent = place(ports * sizeof(uint64_t));
  const size_t at_buf = place(nin * depth * sizeof(Flit));
  const size_t at_px = place(ports * sizeof(PortExt));
  const size_t at_xin = place(speedup_ > 1 ? ports * speedup_ * sizeof(XIn) : 0);
  // 8 more words to align the start, 40 more so that prefetch_state's last five-line
  // turn stays inside the allocation.
  arena_.reset(new uint64_t[bytes / 8 + 8 + 40]());
  char* const base =
      reinterpret_cast<char*>((reinterpret_cast<uintptr_t>(arena_.get()) + 63) & ~uintptr_t(63));
  auto make = [base](auto*& ptr, size_t at, size_t n) {
    ptr = reinterpret_cast<std::remove_reference_t<decltype(ptr)>>(base + at);
    std::uninitialized_value_construct_n(ptr, n);
  };
  hot_lines_ = uint8_t(std::min<size_t>((at_buf + 63) / 64, 16));
  make(va_ports_, at_bits, 4 * words_ + xwords_);
  sa_ports_ = va_ports_ + words_;
  spec_ports_ = sa_ports_ + words_;
  out_matched_ = spec_ports_ + words_;
  in_matched_ = out_matched_ + words_;  // xwords_ words
  make(port_, at_port, ports);
  make(in_, at_in, nin);
  make(out_, at_out, nin);
  make(sent_, at_sent, ports);
  make(buf_, at_buf, nin * depth);
  make(px_, at_px, ports);
  if (speedup_ > 1) make(xin_, at_xin, ports * speedup_);
  va_waiters_.resize(ports);
}

void Router::set_output(uint32_t port, bool eject, int32_t credits) {
  port_[port].eject = eject;
  for (uint32_t v = 0; v < vcs_; ++v)
    out_[port * vcs_ + v].credits = eject ? INT32_MAX / 2 : credits;
}

// The per-cycle work is proportional to what is active: only input ports with a bit in
// va_ports_/sa_ports_ are visited, only their requesting VCs (bit masks), and only
// output ports that received a request are arbitrated. The arrays are read through
// local pointers: a store through a byte-sized field may alias anything, and would
// otherwise make the compiler reload every array base (a member) after each one.
bool Router::step(NetworkCore& core, uint64_t now) {
  switch (uint32_t(impl_)) {
    case kFixed + 0:
      return step_impl<false, 2, 8, 5>(core, now);  // sizes as constants
    case kFixed + 1:
      return step_impl<false, 2, 8, 6>(core, now);
    case kFixed + 2:
      return step_impl<false, 2, 8, 7>(core, now);
    case kFixed + 3:
      return step_impl<false, 2, 8, 8>(core, now);
    case kFixed + 4:
      return step_impl<false, 4, 8, 5>(core, now);
    case kFixed + 5:
      return step_impl<false, 4, 8, 6>(core, now);
    case kFixed + 6:
      return step_impl<false, 4, 8, 7>(core, now);
    case kFixed + 7:
      return step_impl<false, 4, 8, 8>(core, now);
    case kPlain:
      return step_impl<false, 0, 0, 0>(core, now);
    default:
      return step_impl<true, 0, 0, 0>(core, now);
  }
}

// kExtended: speculation or several switch allocation iterations may be on; the
// textbook router is compiled without their tests.
template <bool kExtended, uint32_t kVcs, uint32_t kDepth, uint32_t kPorts>
bool Router::step_impl(NetworkCore& core, uint64_t now) {
  const RouterTiming& t = core.timing_;
  const bool speculative = kExtended && speculative_;
  const uint32_t iterations = kExtended ? iterations_ : 1;
  const uint32_t vcs = kVcs ? kVcs : vcs_, depth = kDepth ? kDepth : depth_;
  const uint32_t nports = kPorts ? kPorts : ports_;
  const uint32_t nin = nports * vcs;
  const uint32_t all_vcs = vcs >= 32 ? ~0u : (1u << vcs) - 1;
  const uint32_t words = kPorts && kPorts <= 64 ? 1 : words_;
  InVc* const in = in_;
  OutVc* const out = out_;
  Port* const pt = port_;
  Flit* const buf = buf_;
  uint64_t* const va_ports = va_ports_;
  // Members read in the loops below, loaded once (a byte store may alias them).
  const bool islip = islip_, wait_tail_credit = wait_tail_credit_;
  uint64_t* const sa_ports = sa_ports_;
  uint64_t* const spec_ports = spec_ports_;
  bool any_spec = false;
  uint32_t* const touched = touched_;  // nin entries: enough for any cycle
  uint32_t ntouched = 0;

  // Route computation and VC allocation requests (input stage of the separable
  // VC allocator: each input VC asks for one free output VC). Only VCs holding a
  // packet that has no output VC yet take part.
  if (any_bit(va_ports, va_ports, words)) {
    const Topology& topo = core.topo_;
    const uint32_t n = core.vcs_per_dateline_;
    for (uint32_t w = 0; w < words; ++w)
      for (uint64_t pm = va_ports[w]; pm; pm &= pm - 1) {
        const uint32_t port = w * 64 + uint32_t(__builtin_ctzll(pm));
        for (uint32_t m = pt[port].va_mask; m; m &= m - 1) {
          const uint32_t v = uint32_t(__builtin_ctz(m));
          const uint32_t ivc = port * vcs + v;
          InVc& iv = in[ivc];
          if (iv.state == kIdle) {
            // A new packet's head is at the front: route computation starts now.
            iv.state = kRouting;
            iv.ready = now + t.rc;
            iv.in_class = uint8_t(core.dateline_class_of(v));
          }
          if (iv.state == kRouting) {
            if (now < iv.ready) continue;
            iv.route = topo.route(id_, port, iv.in_class, buf[ivc * depth + iv.head].dst());
            iv.state = kVcAlloc;
          }
          if (now < iv.ready) continue;
          const uint32_t mclass = buf[ivc * depth + iv.head].mclass();
          // Among the candidate ports, a free output VC of the right class on the port
          // with the most credit (adaptive routing); ties keep the first candidate.
          int32_t pick = -1, pick_score = -1;
          uint32_t pick_port = 0;
          for (uint32_t c = 0; c < iv.route.n; ++c) {
            const uint32_t op = iv.route.port[c];
            const uint32_t base = op * vcs + core.vc_base(mclass, iv.route.vc_class[c]);
            uint32_t k = iv.va_rr >= n ? 0 : iv.va_rr;
            for (uint32_t i = 0; i < n; ++i, k = (k + 1 == n) ? 0 : k + 1) {
              const OutVc& o = out[base + k];
              if (o.busy) continue;
              if (o.credits > pick_score) {
                pick_score = o.credits;
                pick = int32_t(base + k);
                pick_port = op;
              }
              break;
            }
          }
          if (pick < 0) {
            iv.va_parked = 1;
            for (uint32_t c = 0; c < iv.route.n; ++c) {
              va_waiters_[iv.route.port[c]].push_back(ivc);
              pt[iv.route.port[c]].waiters = 1;
            }
            clear_bit(pt[port].va_mask, va_ports, port, 1u << v);
            continue;
          }
          // Speculative router: the head bids for the switch in this same cycle, towards
          // the VC it asks for (only if that VC could take a flit: it has a credit).
          if (speculative && pick_score > 0) {
            iv.spec_port = uint8_t(pick_port);
            px_[port].spec_mask |= 1u << v;
            spec_ports[w] |= uint64_t(1) << (port & 63);
            any_spec = true;
          }
          // Output stage: each output VC grants one requester, round-robin from its pointer.
          int32_t& best = out[pick].va_best;
          if (best < 0) {
            touched[ntouched++] = uint32_t(pick);
            best = int32_t(ivc);
          } else {
            const uint32_t p = out[pick].va_ptr;
            const uint32_t a = ivc >= p ? ivc - p : ivc + nin - p;
            const uint32_t b = uint32_t(best) >= p ? uint32_t(best) - p : uint32_t(best) + nin - p;
            if (a < b) best = int32_t(ivc);
          }
        }
      }
    for (uint32_t i = 0; i < ntouched; ++i) {
      const uint32_t ovc = touched[i];
      OutVc& o = out[ovc];
      const uint32_t ivc = uint32_t(o.va_best);
      o.va_best = -1;
      InVc& iv = in[ivc];
      o.busy = true;
      iv.out_port = uint8_t(ovc / vcs);
      iv.out_vc = uint8_t(ovc % vcs);
      iv.state = kActive;
      iv.ready = now + t.va;
      iv.va_rr = uint8_t(uint32_t(iv.va_rr) + 1 >= n ? 0 : iv.va_rr + 1);
      o.va_ptr = uint16_t(ivc + 1 == nin ? 0 : ivc + 1);
      const uint32_t port = ivc / vcs, bit = 1u << (ivc - port * vcs);
      clear_bit(pt[port].va_mask, va_ports, port, bit);
      if (iv.count > 0) set_bit(pt[port].sa_mask, sa_ports, port, bit);
    }
    ntouched = 0;
  }

  // Switch allocation, separable input-first: each input port picks one ready VC
  // (round-robin), then each output port grants one input port (round-robin).
  // Speculative router: a port with no ready VC bids with one of this cycle's VC
  // allocation requesters instead, and outputs grant non-speculative bids first.
  // With sw_alloc_iterations > 1, inputs and outputs left unmatched try again, each
  // input with a VC bound for a still unmatched output; as in iSLIP, only the first
  // iteration moves the round-robin pointers.
  // The wheel slots of this cycle's flits and credits, indexed by the link end's `node`
  // flag (router or endpoint lists); NetworkCore::step chose them and made room in them
  // for every active router's worst case.
  EventList<NetworkCore::FlitEvent>* const flits[2] = {core.step_flits_[0], core.step_flits_[1]};
  EventList<NetworkCore::CreditEvent>* const credits[2] = {core.step_credits_[0],
                                                           core.step_credits_[1]};
  uint64_t* const in_matched = in_matched_;
  uint64_t* const out_matched = out_matched_;
  auto matched = [](const uint64_t* set, uint32_t port) {
    return (set[port >> 6] >> (port & 63)) & 1;
  };
  // Input speedup S: crossbar input x = port * S + s serves the port's VCs v with
  // v mod S == s (S = 1: x is the port).
  const uint32_t S = kExtended ? speedup_ : 1;
  const uint32_t nx = nports * S;
  // Plain routers of up to 64 ports allocate outputs with request bit sets (sa_req_).
  const bool matrix = !kExtended && (kPorts ? kPorts <= 64 : sa_req_ != nullptr);
  uint64_t* const sa_req = sa_req_;
  XIn* const xin = kExtended && S > 1 ? xin_ : nullptr;
  auto xin_of = [&](uint32_t x) -> XIn& { return kExtended && S > 1 ? xin[x] : pt[x].xin; };
  for (uint32_t it = 0; it < iterations; ++it) {
    const bool first = !kExtended || it == 0;
    ntouched = 0;
    for (uint32_t w = 0; w < words; ++w)
      for (uint64_t pm = (sa_ports[w] | (any_spec ? spec_ports[w] : 0)) &
                         ~(first || S > 1 ? 0 : in_matched[w]);
           pm; pm &= pm - 1) {
        const uint32_t p = w * 64 + uint32_t(__builtin_ctzll(pm));
        Port& ip = pt[p];
        for (uint32_t s = 0; s < S; ++s) {
          const uint32_t x = p * S + s;
          if (S > 1 && !first && matched(in_matched, x)) continue;
          const uint32_t sub = S > 1 ? sub_mask_[s] : all_vcs;
          XIn& xi = xin_of(x);
          const uint32_t m = ip.sa_mask & sub;
          // Visit the candidate VCs in round-robin order from the input's pointer: the
          // mask rotated so that bit i is VC (ptr + i) mod vcs.
          const uint32_t ptr = xi.in_ptr;
          auto rotate = [ptr, vcs, all_vcs](uint32_t bits) {
            return uint32_t(((uint64_t(bits) << vcs) | bits) >> ptr) & all_vcs;
          };
          auto vc_of = [ptr, vcs](uint32_t r) {
            const uint32_t v = ptr + uint32_t(__builtin_ctz(r));
            return v >= vcs ? v - vcs : v;
          };
          int32_t req = -1;
          for (uint32_t r = rotate(m); r; r &= r - 1) {
            const uint32_t v = vc_of(r);
            const InVc& iv = in[p * vcs + v];
            if (now < iv.ready) continue;
            if (!first && matched(out_matched, iv.out_port)) continue;
            OutVc& o = out[iv.out_port * vcs + iv.out_vc];
            if (o.credits <= 0) {
              // Park it until a credit for that output VC comes back (credit()).
              o.parked_owner = int32_t(p * vcs + v);
              clear_bit(pt[p].sa_mask, sa_ports, p, 1u << v);
              continue;
            }
            req = int32_t(v);
            break;
          }
          bool spec = false;
          if (req < 0) {
            if (!speculative) continue;
            for (uint32_t r = rotate(px_[p].spec_mask & sub); r; r &= r - 1) {
              const uint32_t v = vc_of(r);
              if (!first && matched(out_matched, in[p * vcs + v].spec_port)) continue;
              req = int32_t(v);
              break;
            }
            if (req < 0) continue;
            spec = true;
          }
          const uint32_t v = uint32_t(req);
          xi.req_vc = uint8_t(v);
          if (speculative) xi.req_spec = spec;
          if (!islip && first) xi.in_ptr = uint16_t(v + 1 == vcs ? 0 : v + 1);
          const InVc& iv = in[p * vcs + v];
          const uint32_t op = spec ? iv.spec_port : iv.out_port;
          if (matrix) {
            uint64_t& rq = sa_req[op];
            if (rq == 0) touched[ntouched++] = op;  // outputs granted in first-request order
            rq |= uint64_t(1) << x;
            continue;
          }
          PortExt& o = px_[op];
          if (o.sa_best < 0 && (!speculative || o.sa_best_spec < 0)) touched[ntouched++] = op;
          int32_t& best = spec ? o.sa_best_spec : o.sa_best;
          if (best < 0) {
            best = int32_t(x);
          } else {
            const uint32_t optr = pt[op].sa_out_ptr;
            const uint32_t a = x >= optr ? x - optr : x + nx - optr;
            const uint32_t b =
                uint32_t(best) >= optr ? uint32_t(best) - optr : uint32_t(best) + nx - optr;
            if (a < b) best = int32_t(x);
          }
        }
      }
    if (ntouched == 0) break;
    // Switch allocation, crossbar and link: the flit is in the next buffer after these.
    for (uint32_t i = 0; i < ntouched; ++i) {
      const uint32_t op = touched[i];
      Port& outp = pt[op];
      uint32_t x;
      if (matrix) {
        // The requester at or after the output's pointer, else the first one.
        const uint64_t rq = sa_req[op];
        sa_req[op] = 0;
        const uint32_t optr = outp.sa_out_ptr;
        const uint64_t late = rq >> optr;  // optr < nx <= 64
        x = late ? optr + uint32_t(__builtin_ctzll(late)) : uint32_t(__builtin_ctzll(rq));
      } else {
        PortExt& ox = px_[op];
        x = uint32_t(ox.sa_best >= 0 ? ox.sa_best : ox.sa_best_spec);
        ox.sa_best = ox.sa_best_spec = -1;
      }
      const uint32_t ip = S > 1 ? x / S : x;
      Port& inp = pt[ip];
      XIn& xi = xin_of(x);
      const uint32_t v = xi.req_vc;
      const uint32_t ivc = ip * vcs + v;
      InVc& iv = in[ivc];
      if (first) {
        outp.sa_out_ptr = uint16_t(x + 1 == nx ? 0 : x + 1);
        if (islip) xi.in_ptr = uint16_t(v + 1 == vcs ? 0 : v + 1);
      }
      if (iterations > 1) {
        in_matched[x >> 6] |= uint64_t(1) << (x & 63);
        out_matched[op >> 6] |= uint64_t(1) << (op & 63);
      }
      if (speculative && xi.req_spec && iv.state != kActive) {
        // The speculation failed (another input VC won the output VC): the switch
        // slot is lost, nothing crosses.
        ++misspeculations_;
        continue;
      }
      const Flit f = buf[ivc * depth + iv.head];
      iv.head = uint16_t(uint32_t(iv.head) + 1 == depth ? 0 : iv.head + 1);
      --iv.count;
      if (iv.count == 0) clear_bit(pt[ip].sa_mask, sa_ports, ip, 1u << v);
      OutVc& o = out[op * vcs + iv.out_vc];
      --o.credits;
      const bool tail = f.tail();
      // The output VC is free again once the tail is sent (or, with
      // wait_for_tail_credit, once its credit says the tail left the next buffer; an
      // endpoint's credits, where its buffer is bounded, never carry the tail).
      if (tail && (outp.eject || !wait_tail_credit)) {
        o.busy = false;
        if (outp.waiters) wake_va(op);
      }
      NetworkCore::FlitEvent& fe = flits[outp.down.node]->push();
      fe.to = outp.down;
      fe.flit = f;
      fe.flit.vc = iv.out_vc;
      NetworkCore::CreditEvent& ce = credits[inp.up.node]->push();
      ce.id = inp.up.id;
      ce.port = inp.up.port;
      ce.vc = uint8_t(v);
      ce.tail = tail;
      ++sent_[op];
      if (tail) {
        iv.state = kIdle;
        clear_bit(pt[ip].sa_mask, sa_ports, ip, 1u << v);
        if (iv.count > 0) {  // the next packet's head is already here
          set_bit(pt[ip].va_mask, va_ports, ip, 1u << v);
        }
      }
    }
  }
  if (iterations > 1) {
    for (uint32_t w = 0; w < words; ++w) out_matched[w] = 0;
    for (uint32_t w = 0; w < (S > 1 ? xwords_ : words); ++w) in_matched[w] = 0;
  }
  if (any_spec) {
    for (uint32_t w = 0; w < words; ++w) {
      for (uint64_t pm = spec_ports[w]; pm; pm &= pm - 1)
        px_[w * 64 + uint32_t(__builtin_ctzll(pm))].spec_mask = 0;
      spec_ports[w] = 0;
    }
  }
  return any_bit(sa_ports, va_ports, words);  // has_work(), with `words` a constant here
}

void Router::describe_blocked(const Topology& topo, std::vector<std::string>& out,
                              uint64_t now) const {
  static const char* names[] = {"idle", "routing", "vc-alloc", "active"};
  for (uint32_t ivc = 0; ivc < ports_ * vcs_; ++ivc) {
    const InVc& iv = in_[ivc];
    if (iv.count == 0) continue;
    std::string s = "router " + std::to_string(id_) + " in " + topo.port_name(ivc / vcs_) + " vc " +
                    std::to_string(ivc % vcs_) + ": " + std::to_string(iv.count) + " flit(s), " +
                    names[iv.state];
    if (iv.state == kActive) {
      const OutVc& o = out_[iv.out_port * vcs_ + iv.out_vc];
      s += " -> out " + topo.port_name(iv.out_port) + " vc " + std::to_string(iv.out_vc) +
           " (credits " + std::to_string(o.credits) + ")";
    } else if (iv.state == kVcAlloc) {
      s += " waiting for a free VC on out";
      for (uint32_t c = 0; c < iv.route.n; ++c) s += " " + topo.port_name(iv.route.port[c]);
    }
    (void)now;
    out.push_back(s);
  }
}

}  // namespace tessera::noc
