#include "apps/report.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <regex>
#include <sstream>
#include <unordered_map>

#include <fmt/format.h>

#include "models/system/system.h"
#include "models/tile/vector_unit.h"
#include "noc/switch_fabric.h"

namespace tessera::apps {

namespace {

// Sum and mean of the stats whose names match `re`. Only names containing `part` are
// matched against it: a whole machine has thousands of stats, and matching each one
// was a noticeable share of a short run.
double sum_matching(const sim::StatsRegistry& s, const char* part, const std::regex& re,
                    int* count = nullptr) {
  double v = 0;
  int k = 0;
  for (const auto& n : s.names())
    if (n.find(part) != std::string::npos && std::regex_match(n, re)) v += s.value(n), ++k;
  if (count) *count = k;
  return v;
}
double mean_matching(const sim::StatsRegistry& s, const char* part, const std::regex& re) {
  int k = 0;
  const double v = sum_matching(s, part, re, &k);
  return k ? v / k : 0.0;
}
}  // namespace

std::string si_figure(double v, const char* unit) {
  if (!std::isfinite(v) || v == 0) return fmt::format("{:.3g} {}", v, unit);
  static const char* const prefix[] = {"p", "n", "u", "m", "", "k", "M", "G", "T", "P"};
  int i = 4;  // no prefix
  while (std::fabs(v) < 1 && i > 0) v *= 1000, --i;
  while (std::fabs(v) >= 1000 && i < 9) v /= 1000, ++i;
  // Three digits may round up to 1000 (999.7 to 1e+03): one prefix up instead.
  if (std::fabs(std::stod(fmt::format("{:.3g}", v))) >= 1000 && i < 9) v /= 1000, ++i;
  return fmt::format("{:.3g} {}{}", v, prefix[i], unit);
}

std::string plain_figure(double v, int digits) {
  if (!std::isfinite(v) || v == 0) return fmt::format("{}", v);
  // Decimals for `digits` significant digits, rounding included (9.9996 is 10.00).
  std::string t = fmt::format("{:.{}e}", v, digits - 1);
  const int exp10 = std::stoi(t.substr(t.find('e') + 1));
  t = fmt::format("{:.{}f}", v, std::max(0, digits - 1 - exp10));
  if (t.find('.') != std::string::npos) {
    t.erase(t.find_last_not_of('0') + 1);
    if (t.back() == '.') t.pop_back();
  }
  return t;
}

namespace {
// A share as a percentage, to three significant digits (0.0153 %, not 0.0 %).
std::string percent(double share) {
  return share == 0 ? "0 %" : plain_figure(100 * share, 3) + " %";
}
std::string secs(double s) {
  if (s >= 1) return fmt::format("{:.4g} s", s);
  if (s >= 1e-3) return fmt::format("{:.4g} ms", s * 1e3);
  if (s >= 1e-6) return fmt::format("{:.4g} us", s * 1e6);
  return fmt::format("{:.4g} ns", s * 1e9);
}
// Which part of the machine an energy account belongs to.
std::string component_class(const std::string& path) {
  static const std::pair<const char*, const char*> classes[] = {{".gemm", "arrays"},
                                                                {".scratchpad", "scratchpads"},
                                                                {".vector", "vector units"},
                                                                {".hbm", "HBM"},
                                                                {".d2d", "die-to-die links"},
                                                                {"fabric", "fabric"},
                                                                {".noc", "NoC"},
                                                                {".dma", "DMA"},
                                                                {".die", "static (dies)"}};
  for (const auto& [key, name] : classes)
    if (path.find(key) != std::string::npos) return name;
  return "other";
}

}  // namespace

RunReport make_report(const traces::Workload& w, const system::SystemSpec& spec,
                      const mapper::Mapping& m, const CommandTimes& times,
                      const sim::StatsRegistry& stats, const sim::EnergyLedger& energy,
                      uint64_t sim_time_ps, const std::string& workload_name) {
  RunReport r;
  r.machine = spec.name;
  r.workload = workload_name;
  r.sim_time_s = double(sim_time_ps) * 1e-12;
  r.layers_total = m.layers_total;
  r.layers_simulated = m.layers_simulated;
  r.layers_differ = m.layers_differ;
  const double clock_hz = double(spec.tile.clock_mhz) * 1e6;
  const double tiles = spec.total_tiles();
  const double peak_flops_tile = 2.0 * spec.tile.array.rows * spec.tile.array.cols * clock_hz;
  // Vector units do one lane operation per lane and cycle; a command's lane operations
  // are the unit's own cost model (a norm or an exp-based op takes several per element).
  const double peak_vector_tile = double(spec.tile.vector.lanes) * clock_hz;
  r.peak_tflops = peak_flops_tile * tiles / 1e12;
  r.dollars_per_hour = spec.cost.system_dollars_per_hour(spec.system.packages);
  r.static_power_w = spec.chiplet.static_w * spec.total_chiplets();
  const double stacks = double(spec.total_chiplets()) * spec.chiplet.hbm_stacks;
  const double hbm_peak = stacks * spec.chiplet.hbm.peak_gbps() * 1e9;  // B/s
  // Every die-to-die link and fabric port of the machine, both directions (B/s): the
  // most that rank-to-rank traffic could use at once.
  const double d2d_bw = spec.package.d2d.lanes * spec.package.d2d.gbps_per_lane / 8 * 1e9;
  double link_bw = 2 * double(system::d2d_link_pairs(spec).size()) * d2d_bw;
  if (spec.system.packages > 1)
    link_bw += 2 * double(spec.system.packages) * spec.system.fabric.port_gbytes_per_s * 1e9;
  // Every rank group runs every op, unless the trace lists each rank's ops.
  const double op_copies = m.per_rank_ops ? 1.0 : double(m.groups);

  // Per-op start/end over every tile's commands.
  r.ops.resize(m.ops.size());
  for (size_t i = 0; i < m.ops.size(); ++i) {
    const auto& p = m.ops[i];
    OpResult& o = r.ops[i];
    o.name = p.name;
    o.kind = p.kind;
    o.strategy = p.strategy;
    o.layer = p.layer;
    o.simulated = p.simulated;
    o.tiles = p.tiles;
    o.flops = p.flops * op_copies;
    o.start_ps = UINT64_MAX;
    o.end_ps = 0;
  }
  std::vector<double> lane_ops(r.ops.size(), 0.0);  // per op, on every tile
  // Per op and stack, the flits its HBM loads and stores send out of (responses) and
  // into (requests) the stack's NoC ports. Each burst is a packet with a head flit;
  // its payload flits are at least its bytes over the flit size, so this is a floor.
  // Kept sparse (an op touches few stacks, and per-rank traces of large machines have
  // many ops and many stacks): op * stacks + stack -> (out, in).
  const system::AddressMap amap(spec);
  const uint32_t nstacks = amap.num_stacks();
  std::unordered_map<uint64_t, std::pair<double, double>> port_flits;
  const double flit_bytes = spec.chiplet.noc.flit_bytes;
  const uint64_t burst = spec.tile.dma.burst_bytes;
  // Per op and link direction, the bytes its DMA rows move across it to or from
  // another chiplet (HBM or a scratchpad there), on the route the chiplets' networks
  // take (system::next_chiplet; responses retrace it). Sparse, as port_flits. A
  // die-to-die link direction: (op * chiplets + from) * chiplets + to; a package's
  // fabric port: (op * packages + package) * 2 + (0 into the switch, 1 out of it).
  const uint64_t nchip = spec.total_chiplets(), npkg = spec.system.packages;
  const uint32_t per_pkg = spec.package.chiplets;
  std::unordered_map<uint64_t, double> link_dir_bytes, fabric_dir_bytes;
  auto d2d = [&](uint32_t op, uint64_t a, uint64_t b, double bytes) {
    link_dir_bytes[(op * nchip + a) * nchip + b] += bytes;
  };
  auto fabric = [&](uint32_t op, uint64_t package, bool out, double bytes) {
    fabric_dir_bytes[(op * npkg + package) * 2 + out] += bytes;
  };
  // [addr, addr + bytes) in the aligned pieces that take one way round a ring each
  // (half-way round an even ring the address picks the way). A DMA burst (a power of
  // two of at most 4 KiB at its own boundary, tile::DmaConfig) lies within one piece.
  // In an interleaved region, also at its units (each may be in another chiplet's stack;
  // both are powers of two, so one piece lies in one of each).
  const uint64_t ilv_piece = std::min<uint64_t>(amap.interleave_unit(), system::kRingTieBytes);
  auto pieces = [&amap, ilv_piece](uint64_t addr, uint64_t bytes, auto&& fn) {
    const uint64_t step = addr >= amap.interleave_start() ? ilv_piece : system::kRingTieBytes;
    for (uint64_t a = addr, end = addr + bytes; a < end;) {
      const uint64_t next = std::min(end, (a / step + 1) * step);
      fn(a, double(next - a));
      a = next;
    }
  };
  // A DMA burst crosses the fabric as one message with its header: at least this many
  // bytes per byte of data (a burst holds at most burst_bytes).
  const double fabric_framing =
      double(burst + noc::SwitchFabric::kHeaderBytes) / double(std::max<uint64_t>(burst, 1));
  // From chiplet `from` toward the owner `to` of `addr`, up to the switch when
  // `to_switch` (an in-network reduction's contribution), else to `to`. `toward`: the
  // data goes that way (a store, a send); else back (a load's data). On the fabric, the
  // data takes `framing` times its bytes.
  auto route = [&](uint32_t op, uint32_t from, uint32_t to, uint64_t addr, double bytes,
                   bool toward, bool to_switch, double framing) {
    for (uint32_t cur = from; cur != to;) {
      const uint32_t next = system::next_chiplet(spec, cur, to, addr);
      if (next == system::kToFabric) {  // chiplet 0's fabric port, then the other package's
        fabric(op, toward ? cur / per_pkg : to / per_pkg, false, bytes * framing);
        if (to_switch) return;
        fabric(op, toward ? to / per_pkg : cur / per_pkg, true, bytes * framing);
        cur = to / per_pkg * per_pkg;
        continue;
      }
      toward ? d2d(op, cur, next, bytes) : d2d(op, next, cur, bytes);
      cur = next;
    }
  };
  for (size_t t = 0; t < m.programs.size(); ++t) {
    const uint32_t chiplet = amap.tile_place(uint32_t(t)).chiplet_gid;
    for (const auto& c : m.programs[t]) {
      OpResult& o = r.ops[c.op_index];
      o.start_ps = std::min(o.start_ps, times.start[t][c.id]);
      o.end_ps = std::max(o.end_ps, times.end[t][c.id]);
      if (c.kind == tile::CmdKind::kVector)
        lane_ops[c.op_index] += double(tile::vector_lane_ops(spec.tile.vector, c.vec));
      if (c.kind == tile::CmdKind::kReduce && c.dma.size[0] > 0 && c.reduce.contributors > 0) {
        // A contribution goes up to the switch; the switch sends the sum (once per
        // reduction, so a contributor's share of it) down to every member's copy.
        const uint64_t len = c.dma.size[0];
        const uint32_t op = c.op_index;
        pieces(c.dma.remote_addr, len, [&](uint64_t a, double b) {
          const uint32_t via = amap.chiplet_of(a);
          if (via != ~0u && via / per_pkg != chiplet / per_pkg)
            route(op, chiplet, via, a, b, true, true, 1.0);
        });
        for (const uint64_t res : c.reduce.results) {
          pieces(res, len, [&](uint64_t a, double b) {
            const uint32_t owner = amap.chiplet_of(a);
            if (owner == ~0u) return;
            const double share = b / c.reduce.contributors;
            fabric(op, owner / per_pkg, true, share);
            // On from the package's chiplet 0, where its fabric port attaches.
            route(op, owner / per_pkg * per_pkg, owner, a, share, true, false, 1.0);
          });
        }
        continue;
      }
      if (c.kind != tile::CmdKind::kDmaLoad && c.kind != tile::CmdKind::kDmaStore &&
          c.kind != tile::CmdKind::kSend)
        continue;
      const uint64_t row = c.dma.size[0];
      if (row == 0) continue;
      // Every row of the command costs the same flits; only its stack can differ.
      const bool load = c.kind == tile::CmdKind::kDmaLoad;
      const double heads = double((row + burst - 1) / burst), data = double(row) / flit_bytes;
      // Out of the stack's ports read data or write responses, into them read requests or
      // write data.
      auto to_stack = [&](uint32_t stack, double data_flits, double head_flits) {
        auto& [out, in] = port_flits[uint64_t(c.op_index) * nstacks + stack];
        out += load ? data_flits + head_flits : head_flits;
        in += load ? head_flits : data_flits + head_flits;
      };
      for (uint64_t k = 0; k < c.dma.size[2]; ++k)
        for (uint64_t j = 0; j < c.dma.size[1]; ++j) {
          const uint64_t at =
              c.dma.remote_addr + j * c.dma.remote_stride[1] + k * c.dma.remote_stride[2];
          if (at >= amap.interleave_start()) {  // a row over several stacks: per piece
            pieces(at, row, [&](uint64_t a, double len) {
              const system::Target dst = amap.decode(a);
              const uint32_t owner = amap.owner_chiplet(dst);
              if (owner != chiplet && owner != ~0u)
                route(c.op_index, chiplet, owner, a, len, !load, false, fabric_framing);
              if (dst.kind == system::Target::kHbm)
                to_stack(dst.index, len / flit_bytes, std::ceil(len / double(burst)));
            });
            continue;
          }
          const system::Target dst = amap.decode(at);
          const uint32_t owner = amap.owner_chiplet(dst);
          if (owner != chiplet && owner != ~0u)
            pieces(at, row, [&](uint64_t a, double b) {
              route(c.op_index, chiplet, owner, a, b, !load, false, fabric_framing);
            });
          if (dst.kind == system::Target::kHbm) to_stack(dst.index, data, heads);
        }
    }
  }
  // The busiest direction of a die-to-die link or fabric port, at its rate. A link
  // carries its data in flits of flit_payload_bytes plus flit_overhead_bytes (a partly
  // filled flit costs a whole one, so this is a floor).
  const auto& d2d_cfg = spec.package.d2d;
  const double d2d_framing = double(d2d_cfg.flit_payload_bytes + d2d_cfg.flit_overhead_bytes) /
                             double(std::max<uint32_t>(d2d_cfg.flit_payload_bytes, 1));
  std::vector<double> link_dir_floor(r.ops.size(), 0.0);
  for (const auto& [at, bytes] : link_dir_bytes) {
    double& f = link_dir_floor[size_t(at / (nchip * nchip))];
    if (d2d_bw > 0) f = std::max(f, bytes * d2d_framing / d2d_bw);
  }
  const double port_bw = spec.system.fabric.port_gbytes_per_s * 1e9;
  for (const auto& [at, bytes] : fabric_dir_bytes) {
    double& f = link_dir_floor[size_t(at / (2 * npkg))];
    f = std::max(f, bytes / port_bw);
  }
  const double noc_hz = double(spec.chiplet.noc_clock_mhz) * 1e6;
  for (const auto& [at, flits] : port_flits) {
    const uint32_t s = uint32_t(at % nstacks);
    OpResult& o = r.ops[size_t(at / nstacks)];
    o.noc_floor_s = std::max(o.noc_floor_s, std::max(flits.first, flits.second) /
                                                double(amap.stack_ports(s).size()) / noc_hz);
  }
  for (size_t i = 0; i < r.ops.size(); ++i) {
    OpResult& o = r.ops[i];
    const auto& p = m.ops[i];
    if (o.start_ps == UINT64_MAX) {  // no tile had a command of it (nothing to do here)
      o.start_ps = o.end_ps = 0;
      o.issued = false;
    }
    // o.tiles and hbm_bytes already cover every rank group.
    // Vector-class ops (norms, softmax, activations, elementwise): their lane operations
    // at the vector units' peak (until the twelfth session, their FLOPs at the arrays').
    const bool on_vector = traces::op_class(w.op(p.op_index).kind) == traces::OpClass::kVector;
    o.compute_floor_s = !o.tiles    ? 0
                        : on_vector ? lane_ops[i] / (peak_vector_tile * o.tiles)
                                    : o.flops / (peak_flops_tile * o.tiles);
    o.memory_floor_s = hbm_peak > 0 ? double(p.hbm_bytes) / hbm_peak : 0;
    o.link_floor_s = std::max(link_bw > 0 ? double(p.link_bytes) / link_bw : 0, link_dir_floor[i]);
    const auto floors = o.floors();
    static const char* names[4] = {"compute", "HBM", "link", "NoC"};
    const int b = int(std::max_element(floors.begin(), floors.end()) - floors.begin());
    o.bound = o.simulated && o.issued ? (floors[b] > 0 ? names[b] : "sync")
              : p.fused               ? "fused"
                                      : "-";
    if (o.simulated && o.issued && p.link_bytes > 0 && link_bw == 0) {
      // Rank groups on one chiplet: their bytes cross the NoC, and rank-to-rank NoC
      // traffic has no floor here (the NoC floor is the HBM ports').
      o.bound = "NoC/sync";
    } else if (o.simulated && o.issued && floors[b] > 0 && o.time_s() > 4 * floors[b]) {
      // Most of an op's time above every floor went to the NoC / synchronisation.
      o.bound += " (+NoC/sync)";
    }
  }

  // Whole workload: repeated layers scale the simulated layers' span.
  r.flops = 0;
  for (const auto& o : r.ops) r.flops += o.flops;
  r.total_time_s = r.sim_time_s;
  // The layers not simulated against the simulated ones: their time and each
  // component's work scale by these ratios. Copies of the simulated layers: missing /
  // simulated layers. Layers that differ (each MoE layer routes its tokens to other
  // experts): by the trace's own measure of each layer's work, its matrix FLOPs
  // (arrays), vector lane operations (vector units), the bytes its ops read and write
  // (memory, interconnect and scratchpads) and its roofline time, the larger of the
  // compute and HBM times at the machine's peaks (time and background).
  struct LayerRatios {
    double matrix = 0, lanes = 0, bytes = 0, time = 0;
  } more;
  double layer_time_share = 0;  // of the simulated time
  if (m.layers_simulated > 0 && m.layers_simulated < m.layers_total) {
    uint64_t lstart = UINT64_MAX, lend = 0;
    for (const auto& o : r.ops)
      if (o.simulated && o.issued && o.layer >= 0)  // an empty op has no time to span
        lstart = std::min(lstart, o.start_ps), lend = std::max(lend, o.end_ps);
    const double layer_span = lend > lstart ? double(lend - lstart) * 1e-12 : 0;
    const double by_count = double(m.layers_total - m.layers_simulated) / m.layers_simulated;
    more = {by_count, by_count, by_count, by_count};
    if (m.layers_differ) {
      // A vector op's lane operations: the simulated ones' own; a missing one's FLOPs
      // times its kind's lane operations per FLOP in the simulated ops (the unit's cost
      // model is not the trace's FLOP count), or its FLOPs where no op of its kind ran.
      std::map<traces::OpKind, std::pair<double, double>> per_kind;  // lane ops, FLOPs
      for (size_t i = 0; i < m.ops.size(); ++i)
        if (m.ops[i].simulated && lane_ops[i] > 0) {
          auto& [lanes, flops] = per_kind[w.op(m.ops[i].op_index).kind];
          lanes += lane_ops[i];
          flops += m.ops[i].flops;
        }
      LayerRatios sim, miss;  // sums of the layers' work
      for (size_t i = 0; i < m.ops.size(); ++i) {
        const traces::Op& op = w.op(m.ops[i].op_index);
        if (op.layer < 0) continue;
        const double f = m.ops[i].flops;  // the trace's, one rank group's
        const double b = double(traces::operand_bytes(op).total());
        double lanes = 0, matrix = 0;
        if (traces::op_class(op.kind) == traces::OpClass::kVector) {
          const auto k = per_kind.find(op.kind);
          lanes = m.ops[i].simulated ? lane_ops[i]
                  : k != per_kind.end() && k->second.second > 0
                      ? f * k->second.first / k->second.second
                      : f;
        } else {
          matrix = f;
        }
        LayerRatios& x = m.ops[i].simulated ? sim : miss;
        x.matrix += matrix;
        x.lanes += lanes;
        x.bytes += b;
        const double compute =
            std::max(peak_flops_tile > 0 ? matrix / (peak_flops_tile * tiles) : 0,
                     peak_vector_tile > 0 ? lanes / (peak_vector_tile * tiles) : 0);
        x.time += std::max(compute, hbm_peak > 0 ? b / hbm_peak : 0);
      }
      auto ratio = [by_count](double a, double b) { return b > 0 ? a / b : by_count; };
      more = {ratio(miss.matrix, sim.matrix), ratio(miss.lanes, sim.lanes),
              ratio(miss.bytes, sim.bytes), ratio(miss.time, sim.time)};
    }
    r.total_time_s = r.sim_time_s + layer_span * more.time;
    r.time_estimated = true;
    layer_time_share = r.sim_time_s > 0 ? layer_span / r.sim_time_s : 0;
  }

  const double cycles = r.sim_time_s * clock_hz;
  const double macs = sum_matching(stats, ".gemm.macs", std::regex(R"(.*\.tile\d+\.gemm\.macs)"));
  if (cycles > 0) {
    r.util_array = macs / (tiles * spec.tile.array.rows * spec.tile.array.cols * cycles);
    r.util_vector = sum_matching(stats, ".vector.busy_cycles",
                                 std::regex(R"(.*\.tile\d+\.vector\.busy_cycles)")) /
                    (tiles * cycles);
  }
  const double hbm_bytes =
      sum_matching(stats, ".bytes_", std::regex(R"(.*\.hbm\d+\.bytes_(read|written))"));
  if (r.sim_time_s > 0 && hbm_peak > 0) r.util_hbm = hbm_bytes / (hbm_peak * r.sim_time_s);
  r.util_noc =
      mean_matching(stats, "utilisation", std::regex(R"(pkg\d+\.chiplet\d+\.noc\..*utilisation)"));
  r.util_d2d =
      mean_matching(stats, "utilisation", std::regex(R"(pkg\d+\.d2d\d+\.(a2b|b2a)\.utilisation)"));
  r.util_fabric = mean_matching(stats, "utilisation", std::regex(R"(fabric\..*utilisation)"));
  r.tflops = r.total_time_s > 0 ? r.flops / r.total_time_s / 1e12 : 0;

  // Energy of the layers not simulated: each component's simulated energy times the
  // layers' share of that component's work in the simulated ops (arrays: matrix FLOPs;
  // vector units: lane operations, K-split and collective sums included; memory,
  // interconnect, DMA and scratchpads: the bytes the ops move), times the missing layers'
  // work per simulated layers' (`more`). Background power and refresh follow the layers'
  // share of time and the time ratio. (Until the
  // twelfth session all energy, that of the embedding and LM head too, was scaled by the total /
  // simulated time.)
  std::map<std::string, double> share;
  if (r.time_estimated) {
    std::map<std::string, std::pair<double, double>> work;  // class -> (layers, all)
    for (size_t i = 0; i < m.ops.size(); ++i) {
      const auto& p = m.ops[i];
      if (!p.simulated) continue;
      const bool in_layer = p.layer >= 0;
      const traces::OpClass oc = traces::op_class(w.op(p.op_index).kind);
      auto add = [&](const char* cls, double v) {
        auto& [layer, all] = work[cls];
        all += v;
        if (in_layer) layer += v;
      };
      if (oc == traces::OpClass::kMatrix || oc == traces::OpClass::kOpaque) add("arrays", p.flops);
      add("vector units", lane_ops[i]);
      const double bytes = double(p.hbm_bytes + p.link_bytes);
      for (const char* c : {"HBM", "NoC", "die-to-die links", "fabric", "DMA", "scratchpads"})
        add(c, bytes);
    }
    for (const auto& [cls, lw] : work)
      if (lw.second > 0) share[cls] = lw.first / lw.second;
  }
  std::map<std::string, double> by;
  double total_pj = 0;  // summed as the ledger sums it, so that unscaled totals agree
  for (const auto& a : energy.accounts()) {
    const std::string cls = component_class(a.component());
    double f = layer_time_share;  // background power, and a class without a work measure
    auto it = share.find(cls);
    const bool timed = a.kind() == "background" || a.kind() == "ref" || a.kind() == "refpb";
    if (!timed && it != share.end()) f = it->second;
    // The array's operand and result traffic is scratchpad SRAM energy: booked by the
    // array (its share of the simulated work is the arrays'), shown with the scratchpads
    // and grown with the layers' bytes.
    const bool spad = cls == "arrays" && a.kind().rfind("spad_", 0) == 0;
    const double grow = timed || it == share.end() ? more.time
                        : cls == "arrays" && !spad ? more.matrix
                        : cls == "vector units"    ? more.lanes
                                                   : more.bytes;
    const double pj = a.total_pj() * (1.0 + f * grow);
    by[spad ? "scratchpads" : cls] += pj * 1e-12;
    total_pj += pj;
  }
  r.energy_j = total_pj * 1e-12;
  r.avg_power_w = r.total_time_s > 0 ? r.energy_j / r.total_time_s : 0;
  for (const auto& [k, v] : by) r.energy_by_component.emplace_back(k, v);

  // LLM figures: tokens of one step for the whole machine (every rank group).
  auto ph = w.meta.find("phase");
  r.phase = ph == w.meta.end() ? "" : ph->second;
  if (r.phase == "decode" || r.phase == "prefill" || r.phase == "mixed") {
    r.llm = true;
    if (r.phase != "decode") r.past_tokens = w.meta_int("past", 0);
    const double batch = double(w.meta_int("batch", 1));
    // Decode produces one token per sequence (meta tokens where the trace says, as an
    // import may); prefill processes batch x seq prompt tokens; a mixed iteration both.
    const double seq = double(w.meta_int("seq", 1));
    r.tokens = r.phase == "decode" ? double(w.meta_int("tokens", int64_t(batch))) : batch * seq;
    if (r.phase == "mixed") {
      r.prompt_tokens = batch * seq;
      // (A trace without decode_batch: the next tokens beyond one per prompt.)
      r.decode_tokens = double(w.meta_int(
          "decode_batch", std::max<int64_t>(0, w.meta_int("tokens", 0) - int64_t(batch))));
      r.tokens = r.prompt_tokens + r.decode_tokens;
    }
    // With pp > 1 every rank ran the trace's stage at once: the steady state of a full
    // pipeline (pp micro-batches of `batch` in flight), whose throughput is one batch
    // per stage time. A token still passes through every stage in turn.
    // A multi-rank trace (meta ranks) holds every rank's program, stages included.
    const int64_t pp = w.meta_int("ranks", 1) > 1 ? 1 : w.meta_int("pp", 1);
    r.pipeline_stages = uint32_t(std::clamp<int64_t>(pp, 1, UINT32_MAX));
    r.latency_estimated = r.pipeline_stages > 1 || r.time_estimated;
    if (r.has_per_token_figures()) {
      r.tokens_per_s = r.tokens / r.total_time_s;
      const double latency = r.total_time_s * r.pipeline_stages;
      if (r.phase == "prefill") r.ttft_s = latency;
      if (r.phase == "decode") r.per_token_latency_s = latency;
      // A mixed iteration's decoding sequences get a token per iteration.
      if (r.phase == "mixed") r.iteration_s = r.per_token_latency_s = latency;
      r.joules_per_token = r.energy_j / r.tokens;
      r.cost_per_mtok_usd = r.dollars_per_hour / 3600.0 * r.total_time_s / r.tokens * 1e6;
    }
  }
  return r;
}

nlohmann::json RunReport::to_json() const {
  nlohmann::json j;
  j["machine"] = machine;
  j["workload"] = workload;
  j["sim_time_s"] = sim_time_s;
  j["total_time_s"] = total_time_s;
  j["time_estimated"] = time_estimated;
  j["layers_total"] = layers_total;
  j["layers_simulated"] = layers_simulated;
  j["layers_differ"] = layers_differ;
  j["flops"] = flops;
  j["tflops"] = tflops;
  j["peak_tflops"] = peak_tflops;
  j["dollars_per_hour"] = dollars_per_hour;
  j["percent_of_peak"] = peak_tflops > 0 ? 100.0 * tflops / peak_tflops : 0.0;
  j["utilization_time_s"] = sim_time_s;  // utilisation is measured over the simulated time
  j["utilization"] = {{"array", util_array}, {"vector", util_vector}, {"hbm", util_hbm},
                      {"noc", util_noc},     {"d2d", util_d2d},       {"fabric", util_fabric}};
  j["energy_j"] = energy_j;
  j["static_power_w"] = static_power_w;
  j["avg_power_w"] = avg_power_w;
  nlohmann::json e = nlohmann::json::object();
  for (const auto& [k, v] : energy_by_component) e[k] = v;
  j["energy_by_component_j"] = e;
  if (llm) {
    // No tokens: no per-token figures (null, not a zero a sweep would rank first).
    auto per_token = [this](double v) {
      return has_per_token_figures() ? nlohmann::json(v) : nlohmann::json();
    };
    j["phase"] = phase;
    j["tokens"] = tokens;
    j["tokens_per_s"] = per_token(tokens_per_s);
    if (phase == "prefill") j["ttft_s"] = per_token(ttft_s);
    if (phase != "decode") j["past_tokens"] = past_tokens;
    if (phase == "mixed") {
      j["decode_tokens"] = decode_tokens;
      j["prompt_tokens"] = prompt_tokens;
      j["iteration_s"] = per_token(iteration_s);
    }
    if (phase == "decode" || phase == "mixed")
      j["per_token_latency_s"] = per_token(per_token_latency_s);
    j["pipeline_stages"] = pipeline_stages;
    j["latency_estimated"] = latency_estimated;
    j["joules_per_token"] = per_token(joules_per_token);
    j["cost_per_mtok_usd"] = per_token(cost_per_mtok_usd);
  }
  return j;
}

std::string RunReport::to_text() const {
  std::ostringstream os;
  os << fmt::format("Tessera run: {} on {}\n", workload, machine);
  os << fmt::format("  simulated time      {}\n", secs(sim_time_s));
  // Figures computed from the whole-model time (and energy scaled with it) are
  // estimates when layers were scaled, and say so.
  const std::string est = time_estimated ? "  (est.)" : "";
  if (time_estimated)
    os << fmt::format(
        "  whole-model time    {}  (ESTIMATED: {} of {} {}layers simulated, the rest scaled{}; "
        "figures marked est. follow from it)\n",
        secs(total_time_s), layers_simulated, layers_total, layers_differ ? "" : "identical ",
        layers_differ ? " by their work, as they differ (e.g. MoE routing)" : "");
  os << fmt::format(
      "  achieved            {}FLOP/s  ({} of {}FLOP/s peak){}\n", si_figure(tflops * 1e12, ""),
      percent(peak_tflops > 0 ? tflops / peak_tflops : 0), si_figure(peak_tflops * 1e12, ""), est);
  os << fmt::format(
      "  utilisation         arrays {}  vector {}  HBM {}  NoC {}  D2D {}  fabric {}{}\n",
      percent(util_array), percent(util_vector), percent(util_hbm), percent(util_noc),
      percent(util_d2d), percent(util_fabric), time_estimated ? "  (of the simulated time)" : "");
  os << fmt::format("  energy              {}  (average {}){}\n", si_figure(energy_j, "J"),
                    si_figure(avg_power_w, "W"), est);
  for (const auto& [k, v] : energy_by_component)
    os << fmt::format("    {:<18}{:>12}\n", k, si_figure(v, "J"));
  if (static_power_w == 0)
    os << "    (no static power of the compute dies: chiplet.static_w is 0)\n";
  if (llm && !has_per_token_figures()) {
    os << fmt::format("  tokens              {:.0f} ({}): no per-token figures\n", tokens, phase);
  } else if (llm) {
    if (phase == "mixed")
      os << fmt::format("  tokens              {:.0f} (mixed: {:.0f} decode, {:.0f} prompt{})\n",
                        tokens, decode_tokens, prompt_tokens,
                        past_tokens > 0 ? fmt::format(" after {} cached", past_tokens) : "");
    else
      os << fmt::format("  tokens              {:.0f} ({})\n", tokens, phase);
    os << fmt::format(
        "  tokens/s            {}{}{}\n",
        // Plain decimals: whole numbers from 1,000 up (676268, not 6.763e+05).
        plain_figure(tokens_per_s, 4),
        pipeline_stages > 1
            ? fmt::format("  (full pipeline: {} micro-batches in flight)", pipeline_stages)
            : "",
        est);
    const std::string how =
        pipeline_stages > 1
            ? fmt::format("  (ESTIMATED: {} pipeline stages x one stage's time)", pipeline_stages)
            : est;
    if (phase == "prefill" && past_tokens > 0)
      os << fmt::format(
          "  time to first token {}{}  (a chunk after {} cached tokens: the first token's "
          "only if it is the prompt's last chunk)\n",
          secs(ttft_s), how, past_tokens);
    else if (phase == "prefill")
      os << fmt::format("  time to first token {}{}\n", secs(ttft_s), how);
    if (phase == "decode")
      os << fmt::format("  per-token latency   {}{}\n", secs(per_token_latency_s), how);
    if (phase == "mixed")
      os << fmt::format(
          "  iteration time      {}{}  (the decode sequences' time between tokens; the prompt "
          "chunks' time)\n",
          secs(iteration_s), how);
    os << fmt::format("  energy per token    {}{}\n", si_figure(joules_per_token, "J"), est);
    os << fmt::format("  cost per 1M tokens  ${}{}  (at ${}/h)\n",
                      plain_figure(cost_per_mtok_usd, 4), est, plain_figure(dollars_per_hour, 4));
  }
  // "of floor": the op's largest floor over its time, how near it came to its bound.
  os << "\n  op                              kind          tiles       time  of floor  bound\n";
  size_t shown = 0;
  for (const auto& o : ops) {
    if (!o.simulated) continue;
    if (++shown > 40) {
      os << "  ... (" << ops.size() << " ops in all; see ops.csv)\n";
      break;
    }
    const bool rated = o.issued && o.time_s() > 0 && o.floor_s() > 0;
    os << fmt::format("  {:<32}{:<14}{:>5} {:>10}  {:>8}  {}\n", o.name.substr(0, 31), o.kind,
                      o.tiles, secs(o.time_s()), rated ? percent(o.floor_s() / o.time_s()) : "-",
                      o.bound);
  }
  return os.str();
}

std::string RunReport::ops_csv() const {
  std::ostringstream os;
  os << "name,kind,layer,simulated,tiles,start_s,end_s,time_s,flops,compute_floor_s,"
        "memory_floor_s,link_floor_s,noc_floor_s,bound\n";
  for (const auto& o : ops)
    os << fmt::format("{},{},{},{},{},{:.9g},{:.9g},{:.9g},{:.9g},{:.9g},{:.9g},{:.9g},{:.9g},{}\n",
                      sim::csv_field(o.name), o.kind, o.layer, o.simulated ? 1 : 0, o.tiles,
                      o.start_ps * 1e-12, o.end_ps * 1e-12, o.time_s(), o.flops, o.compute_floor_s,
                      o.memory_floor_s, o.link_floor_s, o.noc_floor_s, o.bound);
  return os.str();
}

}  // namespace tessera::apps
