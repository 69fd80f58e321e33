// Configuration of one HBM stack: organisation, timing table, controller, address
// mapping and energy. `preset: hbm3` loads configs/hbm/hbm3.yaml (built into the
// binary) first; every other key then overrides it. The C++ defaults below equal the
// hbm3 preset (a test holds them equal), so a default-constructed config is HBM3.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "models/sim/config_schema.h"
#include "models/sim/resources.h"

namespace tessera::memory {

// Stack -> channels -> pseudo-channels -> stack IDs (SIDs) -> bank groups -> banks.
struct HbmOrg {
  uint32_t channels = 16;
  uint32_t pseudo_channels = 2;
  uint32_t sids = 2;
  uint32_t bank_groups = 4;
  uint32_t banks_per_group = 4;
  uint32_t rows = 16384;
  uint32_t row_bytes = 1024;
  uint32_t bus_width_bits = 32;
  uint32_t burst_length = 8;
  uint32_t data_rate_mbps = 6400;

  template <class V>
  void visit(V& v) {
    v.field("channels", channels, "channels", "independent channels of the stack",
            sim::Range{1, 64});
    v.field("pseudo_channels", pseudo_channels, "per channel",
            "pseudo-channels per channel (each has its own data bus and banks)", sim::Range{1, 4});
    v.field("sids", sids, "per pseudo-channel",
            "stack IDs (rank-like groups of bank groups) per pseudo-channel", sim::Range{1, 8});
    v.field("bank_groups", bank_groups, "per SID", "bank groups per SID", sim::Range{1, 16});
    v.field("banks_per_group", banks_per_group, "banks", "banks per bank group", sim::Range{1, 16});
    v.field("rows", rows, "rows", "rows per bank", sim::Range{1, 1u << 24});
    v.field("row_bytes", row_bytes, "B", "page (row) size seen by one pseudo-channel",
            sim::Range{32, 65536});
    v.field("bus_width_bits", bus_width_bits, "bits", "data bus (DQ) width of a pseudo-channel",
            sim::Range{0, 1024});
    v.field("burst_length", burst_length, "beats", "burst length (BL) of one column access",
            sim::Range{1, 64});
    v.field("data_rate_mbps", data_rate_mbps, "Mb/s per pin", "data rate of one DQ pin",
            sim::Range{1, 100000});
    v.check(bus_width_bits > 0 && bus_width_bits % 8 == 0, "bus_width_bits",
            "the data bus must be a positive whole number of bytes wide");
  }
};

// Timing table, in cycles of the command clock (tCK = 1 / clock_mhz).
struct HbmTiming {
  uint64_t clock_mhz = 1600;
  uint32_t tCL = 20;
  uint32_t tWL = 10;
  uint32_t tRCD = 31;
  uint32_t tRCDWR = 15;
  uint32_t tRP = 26;
  uint32_t tRAS = 45;
  uint32_t tRC = 72;
  uint32_t tRRD_S = 4;
  uint32_t tRRD_L = 5;
  uint32_t tFAW = 24;
  uint32_t tCCD_S = 2;
  uint32_t tCCD_L = 4;
  uint32_t tCCDR = 3;
  uint32_t tWTR_S = 7;
  uint32_t tWTR_L = 10;
  uint32_t tRTW = 20;
  uint32_t tWR = 33;
  uint32_t tRTP = 9;
  uint32_t tPPD = 2;
  uint32_t tREFI = 6240;
  uint32_t tRFC = 560;
  uint32_t tRFCpb = 320;
  uint32_t tRREFD = 7;
  uint32_t tPBR2PBR = 8;
  uint32_t tACT2PBR = 5;
  uint32_t act_bus_cycles = 2;

  template <class V>
  void visit(V& v) {
    const sim::Range t{1, 1e6};
    v.field("clock_mhz", clock_mhz, "MHz", "command clock CK (tCK = 1/clock)",
            sim::Range{1, 100000});
    v.field("tCL", tCL, "tCK", "read latency RL: RD command to first data beat", t);
    v.field("tWL", tWL, "tCK", "write latency WL: WR command to first data beat",
            sim::Range{0, 1e6});
    v.field("tRCD", tRCD, "tCK", "ACT to RD (tRCDRD)", t);
    v.field("tRCDWR", tRCDWR, "tCK", "ACT to WR", t);
    v.field("tRP", tRP, "tCK", "PRE to ACT of the same bank", t);
    v.field("tRAS", tRAS, "tCK", "ACT to PRE of the same bank", t);
    v.field("tRC", tRC, "tCK", "ACT to ACT of the same bank", t);
    v.field("tRRD_S", tRRD_S, "tCK", "ACT to ACT, different bank groups", t);
    v.field("tRRD_L", tRRD_L, "tCK", "ACT to ACT, same bank group", t);
    v.field("tFAW", tFAW, "tCK", "window holding at most four ACTs per pseudo-channel", t);
    v.field("tCCD_S", tCCD_S, "tCK", "column to column, different bank groups", t);
    v.field("tCCD_L", tCCD_L, "tCK", "column to column, same bank group", t);
    v.field("tCCDR", tCCDR, "tCK",
            "RD to RD of another SID (the data bus turns round between dies); reads only; "
            "at most tCCD_S: no rule of its own",
            t);
    v.field("tWTR_S", tWTR_S, "tCK", "end of write data to RD, different bank groups", t);
    v.field("tWTR_L", tWTR_L, "tCK", "end of write data to RD, same bank group", t);
    v.field("tRTW", tRTW, "tCK", "RD to WR command (read-to-write turnaround)", t);
    v.field("tWR", tWR, "tCK", "end of write data to PRE (write recovery)", t);
    v.field("tRTP", tRTP, "tCK", "RD to PRE", t);
    v.field("tPPD", tPPD, "tCK", "PRE to PRE in one pseudo-channel (1: one a clock, no rule)", t);
    v.field("tREFI", tREFI, "tCK", "average refresh interval (all-bank; per-bank is tREFI/banks)",
            t);
    v.field("tRFC", tRFC, "tCK", "all-bank refresh cycle time", t);
    v.field("tRFCpb", tRFCpb, "tCK", "per-bank refresh cycle time", t);
    v.field("tRREFD", tRREFD, "tCK", "per-bank REF to ACT of another bank of the pseudo-channel",
            t);
    v.field("tPBR2PBR", tPBR2PBR, "tCK",
            "per-bank REF to per-bank REF in one pseudo-channel (1: one a clock, no rule)", t);
    v.field("tACT2PBR", tACT2PBR, "tCK",
            "ACT to per-bank REF of another bank of the pseudo-channel (1: no rule)", t);
    v.field("act_bus_cycles", act_bus_cycles, "tCK", "cycles an ACT occupies the row command bus",
            sim::Range{1, 8});
    v.check(tRC >= tRAS + tRP, "tRC", "impossible timing: tRC must be at least tRAS + tRP");
    v.check(tRAS >= std::max(tRCD, tRCDWR), "tRAS",
            "impossible timing: tRAS must be at least tRCD and tRCDWR (a row may not close "
            "before it can be read or written)");
    v.check(tCCD_L >= tCCD_S, "tCCD_L", "tCCD_L must be at least tCCD_S");
    v.check(tRRD_L >= tRRD_S, "tRRD_L", "tRRD_L must be at least tRRD_S");
    v.check(tREFI > tRFC, "tREFI", "tREFI must exceed tRFC (the stack would only refresh)");
  }
};

struct HbmControllerConfig {
  uint32_t transaction_queue = 64;
  uint32_t read_queue = 32;
  uint32_t write_queue = 32;
  std::string scheduler = "fr-fcfs";
  std::string page_policy = "open";
  double write_high_watermark = 0.8;
  double write_low_watermark = 0.2;
  uint32_t starvation_cycles = 1000;
  std::string refresh = "per-bank";
  std::string write_response = "data";

  template <class V>
  void visit(V& v) {
    v.field("transaction_queue", transaction_queue, "requests",
            "front-end queue of the stack: requests accepted (END_REQ) but not yet split "
            "into the pseudo-channel queues; lets a blocked channel not stop the others",
            sim::Range{0, 65536});
    v.field("read_queue", read_queue, "entries", "read queue depth per pseudo-channel",
            sim::Range{0, 4096});
    v.field("write_queue", write_queue, "entries", "write queue depth per pseudo-channel",
            sim::Range{0, 4096});
    v.choice("scheduler", scheduler, {"fr-fcfs", "fcfs"},
             "fr-fcfs: row hits first, then oldest; fcfs: oldest only");
    v.choice("page_policy", page_policy, {"open", "closed"},
             "open: rows stay open; closed: auto-precharge when no queued hit remains");
    v.field("write_high_watermark", write_high_watermark, "fraction",
            "write queue fill that starts a write drain", sim::Range{0, 1});
    v.field("write_low_watermark", write_low_watermark, "fraction",
            "write queue fill that ends a write drain while reads wait", sim::Range{0, 1});
    v.field("starvation_cycles", starvation_cycles, "tCK",
            "age after which the oldest request overrides row-hit priority", sim::Range{1, 1e9});
    v.choice("refresh", refresh, {"per-bank", "all-bank", "none"},
             "refresh scheme: REFpb every tREFI/banks, REFab every tREFI, or none");
    v.choice("write_response", write_response, {"posted", "data"},
             "posted: a write completes when its write queue accepts it (buffered data, as "
             "in gem5's controller); data: at its last data beat on the DRAM bus");
    v.check(transaction_queue > 0, "transaction_queue", "queue depth must be at least 1");
    v.check(read_queue > 0, "read_queue", "queue depth must be at least 1");
    v.check(write_queue > 0, "write_queue", "queue depth must be at least 1");
    v.check(write_low_watermark < write_high_watermark, "write_low_watermark",
            "must be below write_high_watermark");
  }
};

// Address bits, most significant field first. The low `interleave_bytes` of a
// pseudo-channel's column space sit below every other field.
struct HbmMappingConfig {
  std::string scheme = "cacheline";
  std::vector<std::string> order;
  uint32_t interleave_bytes = 64;
  bool xor_bank_hash = true;

  template <class V>
  void visit(V& v) {
    v.choice("scheme", scheme, {"cacheline", "row", "custom"},
             "cacheline: row|bank|sid|column|bankgroup|pseudochannel|channel (lines spread over "
             "every channel); row: row|bank|sid|bankgroup|pseudochannel|channel|column (a page "
             "stays in one pseudo-channel); custom: `order`");
    v.field("order", order, "",
            "custom bit order, most significant first: row, bank, sid, bankgroup, "
            "pseudochannel, channel, column",
            sim::Range{});
    v.field("interleave_bytes", interleave_bytes, "B",
            "bytes kept together in one pseudo-channel before the next field (cacheline scheme)",
            sim::Range{1, 1 << 20});
    v.field("xor_bank_hash", xor_bank_hash, "",
            "XOR low row bits into bank and bank-group bits (spreads strided streams)",
            sim::Range{});
    v.check(scheme != "custom" || !order.empty(), "order", "scheme custom needs an order");
  }
};

// Energy per event; background per channel. HBM2 numbers derive from DRAMsim3's
// IDD table (see configs/hbm/hbm2.yaml); core array energy only, PHY I/O excluded.
struct HbmEnergy {
  double act_pj = 696;
  double rd_pj = 338;
  double wr_pj = 449;
  double ref_pj = 25560;
  double refpb_pj = 799;
  double background_mw = 60.5;
  // IDD2N / IDD3N of DRAMsim3's HBM2 table (40 / 55 mA).
  double precharged_standby_fraction = 40.0 / 55.0;

  template <class V>
  void visit(V& v) {
    const sim::Range e{0, 1e9};
    v.field("act_pj", act_pj, "pJ", "one ACT with its PRE (row open and close)", e);
    v.field("rd_pj", rd_pj, "pJ", "one read column access (one burst)", e);
    v.field("wr_pj", wr_pj, "pJ", "one write column access (one burst)", e);
    v.field("ref_pj", ref_pj, "pJ", "one all-bank refresh of a pseudo-channel", e);
    v.field("refpb_pj", refpb_pj, "pJ", "one per-bank refresh", e);
    v.field("background_mw", background_mw, "mW",
            "standby power of one channel with a bank open (active standby, IDD3N x VDD)", e);
    v.field("precharged_standby_fraction", precharged_standby_fraction, "ratio",
            "standby power of a channel with every bank closed (precharged standby, IDD2N) as "
            "a fraction of background_mw (IDD3N); each pseudo-channel draws its share at "
            "this level while all its banks are closed",
            sim::Range{0, 1});
  }
};

std::vector<std::string> hbm_preset_names();
std::string hbm_preset_text(const std::string& name);

struct HbmConfig {
  std::string preset;
  HbmOrg org;
  HbmTiming timing;
  HbmControllerConfig controller;
  HbmMappingConfig mapping;
  HbmEnergy energy;

  template <class V>
  void visit(V& v) {
    v.preset("preset", preset, *this, hbm_preset_names, hbm_preset_text,
             "HBM generation preset (configs/hbm/<name>.yaml); other keys override it");
    v.section("org", org, "organisation of the stack");
    v.section("timing", timing, "timing table in command-clock cycles");
    v.section("controller", controller, "memory controller of each channel");
    v.section("mapping", mapping, "physical address to channel/bank/row/column");
    v.section("energy", energy, "energy per command and background power");
    const uint64_t beats_x = uint64_t(org.data_rate_mbps);
    v.check(beats_x % timing.clock_mhz == 0, "timing",
            "data_rate_mbps must be a whole multiple of clock_mhz (beats per clock)");
    v.check(beats_x % timing.clock_mhz != 0 || org.burst_length % (beats_x / timing.clock_mhz) == 0,
            "org", "burst_length must be a whole number of clocks at this data rate");
    v.check(org.row_bytes % access_bytes() == 0 && is_pow2(org.row_bytes / access_bytes()), "org",
            "row_bytes must be a power-of-two number of column accesses");
    v.check(is_pow2(org.channels) && is_pow2(org.pseudo_channels) && is_pow2(org.sids) &&
                is_pow2(org.bank_groups) && is_pow2(org.banks_per_group),
            "org",
            "channels, pseudo_channels, sids, bank_groups and banks_per_group must be "
            "powers of two");
    v.check(banks_per_pc() <= 64, "org",
            "at most 64 banks per pseudo-channel (sids x bank_groups x banks_per_group)");
    v.check(is_pow2(mapping.interleave_bytes) && mapping.interleave_bytes >= access_bytes(),
            "mapping", "interleave_bytes must be a power of two of at least one access");
    v.check(timing.tCCD_S >= burst_cycles_or_1(), "timing",
            "tCCD_S must cover one burst (BL / beats per clock)");
    // A per-bank refresh is due every tREFI / banks; REFpbs tPBR2PBR apart could never
    // catch up (and ACTs held for a due REFpb would wait for ever).
    const uint64_t pb_interval = refpb_interval();
    v.check(controller.refresh != "per-bank" || timing.tPBR2PBR < pb_interval, "timing",
            "tPBR2PBR must be below the per-bank refresh interval tREFI / banks per "
            "pseudo-channel, or per-bank refresh falls behind for good");
    v.check(controller.refresh != "per-bank" || timing.tACT2PBR < pb_interval, "timing",
            "tACT2PBR must be below the per-bank refresh interval tREFI / banks per "
            "pseudo-channel (every ACT would push the next REFpb past its due time)");
    v.check(controller.refresh != "per-bank" || timing.tRREFD < pb_interval, "timing",
            "tRREFD must be below the per-bank refresh interval tREFI / banks per "
            "pseudo-channel (ACTs would wait behind the REFpbs for ever)");
    // A due refresh goes first and a bank is refreshed every tREFI, so the interval must
    // hold a whole row cycle, the refresh and the row's first access; else a row can be
    // opened and closed again for the next refresh, for ever, before it is read.
    const uint64_t ref_busy = controller.refresh == "per-bank" ? timing.tRFCpb : timing.tRFC;
    v.check(
        controller.refresh == "none" ||
            uint64_t(timing.tRC) + std::max(timing.tRCD, timing.tRCDWR) + ref_busy < timing.tREFI,
        "timing",
        "tRC + tRCD (or tRCDWR, the larger) + tRFC (tRFCpb with per-bank refresh) must be "
        "below tREFI, or refreshes can keep a row from ever being read");
  }

  // Derived figures.
  uint32_t access_bytes() const { return org.bus_width_bits / 8 * org.burst_length; }
  uint32_t beats_per_clock() const { return uint32_t(org.data_rate_mbps / timing.clock_mhz); }
  uint32_t tBL() const { return org.burst_length / beats_per_clock(); }
  uint32_t banks_per_pc() const { return org.sids * org.bank_groups * org.banks_per_group; }
  // Clocks between a pseudo-channel's per-bank refreshes (tREFI / banks, at least 1).
  uint64_t refpb_interval() const { return std::max<uint64_t>(1, timing.tREFI / banks_per_pc()); }
  uint32_t columns() const { return org.row_bytes / access_bytes(); }
  uint64_t capacity_bytes() const {
    return uint64_t(org.channels) * org.pseudo_channels * banks_per_pc() * org.rows * org.row_bytes;
  }
  // Peak data bandwidth of the stack, GB/s (1e9 bytes per second).
  double peak_gbps() const {
    return double(org.channels) * org.pseudo_channels * org.bus_width_bits *
           double(org.data_rate_mbps) / 8.0 / 1000.0;
  }
  double tck_ps() const { return 1e6 / double(timing.clock_mhz); }

 private:
  static bool is_pow2(uint64_t x) { return x && !(x & (x - 1)); }
  uint32_t burst_cycles_or_1() const {
    const uint64_t b = uint64_t(org.data_rate_mbps) / timing.clock_mhz;
    return b ? uint32_t(org.burst_length / b) : 1;
  }
};

// Loads an HBM config from YAML text (for tests and the hbm command).
HbmConfig load_hbm_config(const std::string& yaml_text, const std::string& label);

}  // namespace tessera::memory
