// One test per timing rule, HBM3 preset (configs/hbm/hbm3.yaml), refresh off unless the
// rule is refresh. Values in tCK: tRCD 31, tRCDWR 15, tCL 20, tWL 10, BL8 at 4 beats per
// clock -> tBL 2, tRP 26, tRAS 45, tRC 72, tRRD_S 4, tRRD_L 5, tFAW 24, tCCD_S 2,
// tCCD_L 4, tCCDR 3, tWTR_S 7, tWTR_L 10, tRTW 20, tWR 33, tRTP 9, tPPD 2, tRFC 560,
// tRFCpb 320, tRREFD 7, tPBR2PBR 8, tACT2PBR 5.
// A = channel 0, pc 0, bank group 0, bank 0; B = same pc, bank group 1, bank 0;
// C = same pc, SID 1, bank group 0, bank 0.
#include <catch2/catch.hpp>

#include <vector>

#include "testbench/memory/hbm_test_util.h"

using namespace tessera::memory;
using tessera::memory::test::Harness;
using tessera::memory::test::quiet_hbm3;

namespace {
// Opens row 0 of bank 0 in bank groups 0-3 (banks 0, 4, 8, 12) at clock 0.
void open_four_groups(Harness& h) {
  for (uint32_t bg = 0; bg < 4; ++bg) h.submit(h.addr(0, 0, bg, 0, 0), false, 0);
  h.drain();
}
// Opens row 0 in A and B at clock 0 (both reads are done by clock 57).
void open_a_and_b(Harness& h) {
  h.submit(h.addr(0, 0, 0, 0, 0), false, 0);
  h.submit(h.addr(0, 0, 1, 0, 0), false, 0);
  h.drain();
}
}  // namespace

TEST_CASE("hbm timing: an idle read on a closed bank takes tRCD + tCL + BL/2", "[unit]") {
  const HbmConfig cfg = quiet_hbm3();
  Harness h(cfg);
  const auto r = h.submit(h.addr(0, 0, 0, 0, 0), false, 0);
  h.drain();
  // tRCD (31) + tCL (20) + tBL (2) = 53
  CHECK(h.finish[r] == 53);
  CHECK(h.finish[r] == cfg.timing.tRCD + cfg.timing.tCL + cfg.tBL());
  CHECK(h.stat("hbm.ch0.row_misses") == 1);
}

TEST_CASE("hbm timing: the two bursts of a 64 B line in one bank group are tCCD_L apart",
          "[unit]") {
  Harness h(quiet_hbm3());
  const auto r = h.submit(0, false, 0, 64);
  h.drain();
  // ACT 0; RD 31; second RD 31 + tCCD_L (4) = 35; last beat 35 + tCL (20) + tBL (2) = 57
  CHECK(h.finish[r] == 57);
}

TEST_CASE("hbm timing: a row hit takes tCL + BL/2", "[unit]") {
  Harness h(quiet_hbm3());
  open_a_and_b(h);
  const auto r = h.submit(h.addr(0, 0, 0, 0, 0, 1), false, 200);
  h.drain();
  // RD at 200; 200 + tCL (20) + tBL (2) = 222
  CHECK(h.finish[r] == 222);
  CHECK(h.stat("hbm.ch0.row_hits") == 1);
}

TEST_CASE("hbm timing: a row conflict adds tRP before the ACT", "[unit]") {
  Harness h(quiet_hbm3());
  open_a_and_b(h);
  const auto r = h.submit(h.addr(0, 0, 0, 0, 7), false, 200);
  h.drain();
  // PRE 200; ACT 200 + tRP (26) = 226; RD 226 + tRCD (31) = 257; 257 + 22 = 279
  CHECK(h.finish[r] == 279);
  CHECK(h.stat("hbm.ch0.row_conflicts") == 1);
}

TEST_CASE("hbm timing: an idle write on a closed bank takes tRCDWR + tWL + BL/2", "[unit]") {
  Harness h(quiet_hbm3());
  const auto w = h.submit(h.addr(0, 0, 0, 0, 0), true, 0);
  h.drain();
  // ACT 0; WR at tRCDWR (15); last beat 15 + tWL (10) + tBL (2) = 27
  CHECK(h.finish[w] == 27);
}

TEST_CASE("hbm timing: a posted write completes on acceptance and still drains", "[unit]") {
  Harness h(quiet_hbm3("write_response: posted"));
  const auto w = h.submit(h.addr(0, 0, 0, 0, 0), true, 5);
  const auto r = h.submit(h.addr(0, 0, 0, 0, 0, 1), false, 5);
  h.drain();
  // accepted into the empty write queue at clock 5: the write buffer holds the data
  CHECK(h.finish[w] == 5);
  // the write still goes to the DRAM (the read drains first: reads are queued)
  CHECK(h.stat("hbm.ch0.cmd.wr") == 1);
  // the read is unaffected: ACT 5, RD 5 + tRCD (31) = 36, 36 + tCL (20) + tBL (2) = 58
  CHECK(h.finish[r] == 58);
}

TEST_CASE("hbm timing: ACT to ACT of one bank waits tRC", "[unit]") {
  Harness h(quiet_hbm3());
  h.submit(h.addr(0, 0, 0, 0, 0), false, 0);
  const auto r = h.submit(h.addr(0, 0, 0, 0, 1), false, 1);
  h.drain();
  // ACT row 0 at 0; RD 31; PRE at max(tRAS 45, 31 + tRTP 9) = 45;
  // ACT row 1 at max(45 + tRP 26 = 71, 0 + tRC 72) = 72; RD 103; 103 + 22 = 125
  CHECK(h.finish[r] == 125);
}

TEST_CASE("hbm timing: ACT to ACT in different bank groups waits tRRD_S", "[unit]") {
  Harness h(quiet_hbm3());
  h.submit(h.addr(0, 0, 0, 0, 0), false, 0);
  const auto r = h.submit(h.addr(0, 0, 1, 0, 0), false, 0);
  h.drain();
  // second ACT at tRRD_S (4); 4 + 53 = 57
  CHECK(h.finish[r] == 57);
}

TEST_CASE("hbm timing: ACT to ACT in the same bank group waits tRRD_L", "[unit]") {
  Harness h(quiet_hbm3());
  h.submit(h.addr(0, 0, 0, 0, 0), false, 0);
  const auto r = h.submit(h.addr(0, 0, 0, 1, 0), false, 0);
  h.drain();
  // second ACT at tRRD_L (5); 5 + 53 = 58
  CHECK(h.finish[r] == 58);
}

TEST_CASE("hbm timing: a fifth ACT in a pseudo-channel waits for tFAW", "[unit]") {
  Harness h(quiet_hbm3());
  for (uint32_t bg = 0; bg < 4; ++bg) h.submit(h.addr(0, 0, bg, 0, 0), false, 0);
  const auto fifth = h.submit(h.addr(0, 0, 0, 1, 0), false, 0);
  h.drain();
  // ACTs at 0, 4, 8, 12 (tRRD_S); the fifth at max(12 + 4, 0 + tFAW 24) = 24;
  // 24 + tRCD 31 + tCL 20 + tBL 2 = 77
  CHECK(h.finish[fifth] == 77);
}

TEST_CASE("hbm timing: reads to different bank groups are tCCD_S apart", "[unit]") {
  Harness h(quiet_hbm3());
  open_a_and_b(h);
  h.submit(h.addr(0, 0, 0, 0, 0, 1), false, 200);
  const auto r = h.submit(h.addr(0, 0, 1, 0, 0, 1), false, 200);
  h.drain();
  // RD 200, RD 200 + tCCD_S (2) = 202; 202 + 22 = 224
  CHECK(h.finish[r] == 224);
}

TEST_CASE("hbm timing: reads to different SIDs are tCCDR apart, writes tCCD_S", "[unit]") {
  Harness h(quiet_hbm3());
  h.submit(h.addr(0, 0, 0, 0, 0), false, 0);
  h.submit(h.addr(0, 0, 0, 0, 0, 0, 1), false, 0);
  h.drain();
  h.submit(h.addr(0, 0, 0, 0, 0, 1), false, 200);
  const auto r = h.submit(h.addr(0, 0, 0, 0, 0, 1, 1), false, 200);
  h.drain();
  // RD A 200; RD C (the other SID) at 200 + tCCDR (3) = 203; 203 + 22 = 225
  CHECK(h.finish[r] == 225);
  // The rule is for reads (the data bus turns round between the dies): WR A 400, WR C
  // at 400 + tCCD_S (2) = 402; 402 + tWL (10) + tBL (2) = 414.
  h.submit(h.addr(0, 0, 0, 0, 0, 2), true, 400);
  const auto w = h.submit(h.addr(0, 0, 0, 0, 0, 2, 1), true, 400);
  h.drain();
  CHECK(h.finish[w] == 414);
}

TEST_CASE("hbm timing: reads to the same bank group are tCCD_L apart", "[unit]") {
  Harness h(quiet_hbm3());
  open_a_and_b(h);
  h.submit(h.addr(0, 0, 0, 0, 0, 1), false, 200);
  const auto r = h.submit(h.addr(0, 0, 0, 0, 0, 2), false, 200);
  h.drain();
  // RD 200, RD 200 + tCCD_L (4) = 204; 204 + 22 = 226
  CHECK(h.finish[r] == 226);
}

TEST_CASE("hbm timing: a read after a write to another bank group waits tWTR_S", "[unit]") {
  Harness h(quiet_hbm3());
  open_a_and_b(h);
  h.submit(h.addr(0, 0, 0, 0, 0, 1), true, 200);
  const auto r = h.submit(h.addr(0, 0, 1, 0, 0, 1), false, 201);
  h.drain();
  // WR 200, write data ends 200 + tWL 10 + tBL 2 = 212; RD at 212 + tWTR_S (7) = 219;
  // 219 + 22 = 241
  CHECK(h.finish[r] == 241);
}

TEST_CASE("hbm timing: a read after a write to the same bank group waits tWTR_L", "[unit]") {
  Harness h(quiet_hbm3());
  open_a_and_b(h);
  h.submit(h.addr(0, 0, 0, 0, 0, 1), true, 200);
  const auto r = h.submit(h.addr(0, 0, 0, 0, 0, 2), false, 201);
  h.drain();
  // write data ends 212; RD at 212 + tWTR_L (10) = 222; 222 + 22 = 244
  CHECK(h.finish[r] == 244);
}

TEST_CASE("hbm timing: a write after a read waits tRTW", "[unit]") {
  Harness h(quiet_hbm3());
  open_a_and_b(h);
  h.submit(h.addr(0, 0, 0, 0, 0, 1), false, 200);
  const auto w = h.submit(h.addr(0, 0, 1, 0, 0, 1), true, 201);
  h.drain();
  // RD 200; WR at 200 + tRTW (20) = 220; 220 + tWL 10 + tBL 2 = 232
  CHECK(h.finish[w] == 232);
}

TEST_CASE("hbm timing: a precharge after a read waits tRTP", "[unit]") {
  Harness h(quiet_hbm3());
  open_a_and_b(h);
  h.submit(h.addr(0, 0, 0, 0, 0, 1), false, 200);
  const auto r = h.submit(h.addr(0, 0, 0, 0, 5), false, 201);
  h.drain();
  // RD 200; PRE 200 + tRTP (9) = 209; ACT 209 + tRP 26 = 235; RD 266; 266 + 22 = 288
  CHECK(h.finish[r] == 288);
}

TEST_CASE("hbm timing: a precharge after a write waits the write recovery tWR", "[unit]") {
  Harness h(quiet_hbm3());
  open_a_and_b(h);
  h.submit(h.addr(0, 0, 0, 0, 0, 1), true, 200);
  const auto r = h.submit(h.addr(0, 0, 0, 0, 5), false, 201);
  h.drain();
  // WR 200, data ends 212; PRE 212 + tWR (33) = 245; ACT 271; RD 302; 302 + 22 = 324
  CHECK(h.finish[r] == 324);
}

TEST_CASE("hbm timing: an all-bank refresh blocks the pseudo-channel for tRFC", "[unit]") {
  Harness h(test::preset_config("hbm3", "controller: {refresh: all-bank}"));
  // Pseudo-channel 0 of channel 0 refreshes first at tREFI (6240).
  const auto r = h.submit(h.addr(0, 0, 0, 0, 0), false, 6240);
  h.drain();
  // REF 6240; ACT 6240 + tRFC (560) = 6800; 6800 + 53 = 6853
  CHECK(h.finish[r] == 6853);
  CHECK(h.stat("hbm.ch0.cmd.ref") == 1);
}

// All-bank refresh (HBM3, `timing` keys added): rows open in bank groups 0-3 (banks 0,
// 4, 8, 12) at clock 0, then a read of bank `bank` of group 0 at clock `at`; its last
// data beat and the REF and PRE commands of pseudo-channel 0.
struct AfterRefresh {
  uint64_t finish;
  double refs, pres;
};
AfterRefresh read_after_refresh(const std::string& timing, uint32_t bank, uint64_t at) {
  Harness h(test::preset_config("hbm3", "controller: {refresh: all-bank}\n" + timing));
  open_four_groups(h);
  const auto r = h.submit(h.addr(0, 0, 0, bank, 0), false, at);
  h.drain();
  return {h.finish[r], h.stat("hbm.ch0.cmd.ref"), h.stat("hbm.ch0.cmd.pre")};
}

TEST_CASE("hbm timing: an idle channel's replayed refresh closes its banks one PRE per tPPD",
          "[unit]") {
  // The pseudo-channel idles past its first refresh (due at tREFI = 6240), which is
  // replayed when the next read comes: PREs at 6240, 6242, 6244, 6246 (tPPD 2 apart),
  // REF at 6246 + tRP (26) = 6272, ACT at 6272 + tRFC (560) = 6832; 6832 + 53 = 6885.
  const AfterRefresh r = read_after_refresh("", 0, 6300);
  CHECK(r.finish == 6885);
  CHECK(r.refs == 1);
  // Arriving while that replayed refresh is still under way (after its PREs, before its
  // REF) changes nothing: the PREs were issued when they fell due, not again from the
  // arrival (which put the REF at 6282 and the read's end at 6895 until the sixteenth
  // session).
  CHECK(read_after_refresh("", 0, 6250).finish == 6885);
  // Arriving between its PREs: those before the arrival stand, the rest follow.
  CHECK(read_after_refresh("", 0, 6243).finish == 6885);
  // Each of the four open banks is precharged once, whenever the work arrives.
  for (const uint64_t at : {6243u, 6250u, 6300u}) {
    INFO("arrival " << at);
    CHECK(read_after_refresh("", 0, at).pres == 4);
  }
}

TEST_CASE("hbm timing: a refresh that falls due with work queued closes banks one PRE per tPPD",
          "[unit]") {
  // Arrives as the refresh falls due: the scheduler issues the refresh itself (not the
  // idle replay), PREs at 6240, 6242, 6244, 6246, REF 6272, ACT 6832; 6832 + 53 = 6885.
  CHECK(read_after_refresh("", 1, 6240).finish == 6885);
  // With tPPD at 1 the same PREs go one a clock: REF 6269, ACT 6829, 6882.
  CHECK(read_after_refresh("timing: {tPPD: 1}", 1, 6240).finish == 6882);
}

TEST_CASE("hbm timing: idle pseudo-channels refresh every tREFI", "[unit]") {
  Harness h(test::preset_config("hbm3", "controller: {refresh: all-bank}"));
  const uint64_t end = 6240 * 10 + 5;
  h.core.publish(end);
  // both pseudo-channels refresh at 6240 k (k = 1..10 up to 62405): 2 x 10 = 20
  CHECK(h.stat("hbm.ch0.cmd.ref") == 20);
}

TEST_CASE("hbm timing: a per-bank refresh blocks only its bank, for tRFCpb", "[unit]") {
  Harness h(test::preset_config("hbm3", "controller: {refresh: per-bank}"));
  // Per-bank interval tREFI / 32 banks = 195; pseudo-channel 0 refreshes first at 195.
  // A read to bank 0 is queued then, so the controller refreshes the next idle bank,
  // bank 1 (bank group 0).
  const auto queued = h.submit(h.addr(0, 0, 0, 0, 0), false, 195);
  const auto late = h.submit(h.addr(0, 0, 0, 1, 0), false, 196);
  h.drain();
  // bank 0 is not refreshed, but no bank of the pseudo-channel may be activated until
  // tRREFD after a REFpb: ACT 195 + 7 = 202; 202 + 53 = 255
  CHECK(h.finish[queued] == 255);
  // REFpb of bank 1 at 195 -> ACT at 195 + tRFCpb (320) = 515; 515 + 53 = 568
  CHECK(h.finish[late] == 568);
  // pc 0 refreshes at 195 and again at 195 + 195 = 390 (it is busy until 568); idle
  // pc 1's refreshes are only accounted at the end of the run.
  CHECK(h.stat("hbm.ch0.cmd.refpb") == 2);
}

TEST_CASE("hbm timing: a per-bank refresh waits tACT2PBR after an ACT and holds later ACTs",
          "[unit]") {
  // Per-bank refresh of pseudo-channel 0 is due at 195. A read of bank 0 activates it
  // at 180; with tACT2PBR 50 the REFpb (of bank 1, which nothing wants) waits until
  // 230, and a read of bank group 1 arriving at 220 does not activate first (that would
  // hold the refresh off again): its ACT waits for the REFpb and tRREFD, 230 + 7 = 237;
  // 237 + 53 = 290. With tACT2PBR 5 the REFpb goes at 195, the ACT at 220: 273.
  auto late_read = [](uint32_t act2pbr) {
    Harness h(test::preset_config("hbm3", "controller: {refresh: per-bank}\ntiming: {tACT2PBR: " +
                                              std::to_string(act2pbr) + "}"));
    h.submit(h.addr(0, 0, 0, 0, 0), false, 180);
    const auto r = h.submit(h.addr(0, 0, 1, 0, 0), false, 220);
    h.drain();
    return h.finish[r];
  };
  CHECK(late_read(5) == 273);
  CHECK(late_read(50) == 290);
}

TEST_CASE("hbm timing: per-bank refreshes of a pseudo-channel are tPBR2PBR apart", "[unit]") {
  // A read of bank 0 activates it at 194, so the first REFpb (of bank 1), due at 195,
  // goes tACT2PBR (5) later, at 199; the read is done at 194 + 53 = 247. The pseudo-
  // channel then idles; its next refresh, due at 390, is replayed when a read of bank
  // group 1 arrives at 395. With tPBR2PBR 194 (the most the 195-clock interval allows)
  // it cannot go before 199 + 194 = 393, so the read's ACT waits for tRREFD after it:
  // 400 + 53 = 453. With the preset's 8 it goes at 390 and the ACT at 397: 450.
  auto second_read = [](uint32_t pbr2pbr) {
    Harness h(test::preset_config("hbm3", "controller: {refresh: per-bank}\ntiming: {tPBR2PBR: " +
                                              std::to_string(pbr2pbr) + "}"));
    const auto first = h.submit(h.addr(0, 0, 0, 0, 0), false, 194);
    const auto r = h.submit(h.addr(0, 0, 1, 0, 0), false, 395);
    h.drain();
    CHECK(h.finish[first] == 247);
    return h.finish[r];
  };
  CHECK(second_read(8) == 450);
  CHECK(second_read(194) == 453);
}

TEST_CASE("hbm scheduling: FR-FCFS serves a younger row hit before an older conflict", "[unit]") {
  Harness h(quiet_hbm3());
  open_a_and_b(h);
  const auto conflict = h.submit(h.addr(0, 0, 0, 0, 5), false, 200);
  const auto hit = h.submit(h.addr(0, 0, 0, 0, 0, 3), false, 200);
  h.drain();
  CHECK(h.finish[hit] == 222);       // RD 200 + 22
  CHECK(h.finish[conflict] == 288);  // PRE 209 (tRTP after the hit), ACT 235, RD 266
}

TEST_CASE("hbm scheduling: FCFS serves the oldest first", "[unit]") {
  Harness h(quiet_hbm3("scheduler: fcfs"));
  open_a_and_b(h);
  const auto conflict = h.submit(h.addr(0, 0, 0, 0, 5), false, 200);
  const auto hit = h.submit(h.addr(0, 0, 0, 0, 0, 3), false, 200);
  h.drain();
  CHECK(h.finish[conflict] == 279);  // PRE 200, ACT 226, RD 257
  CHECK(h.finish[hit] > h.finish[conflict]);
}

TEST_CASE("hbm scheduling: the starvation cap lets an old conflict past a stream of hits",
          "[unit]") {
  auto run = [](const char* cap) {
    Harness h(quiet_hbm3(std::string("starvation_cycles: ") + cap));
    open_a_and_b(h);
    const auto conflict = h.submit(h.addr(0, 0, 0, 0, 5), false, 200);
    uint64_t last_hit = 0;
    for (uint32_t c = 1; c < 31; ++c) last_hit = h.submit(h.addr(0, 0, 0, 0, 0, c), false, 200);
    h.drain();
    return std::make_pair(h.finish[conflict], h.finish[last_hit]);
  };
  // 30 hits in one bank at tCCD_L = 4 take 120 clocks: without a cap they all go first.
  const auto uncapped = run("100000");
  CHECK(uncapped.first > uncapped.second);
  const auto capped = run("50");
  CHECK(capped.first < capped.second);
  CHECK(capped.first < uncapped.first);
}

TEST_CASE("hbm scheduling: writes wait below the high watermark while reads are queued", "[unit]") {
  auto run = [](const char* hi) {
    Harness h(quiet_hbm3(std::string("write_high_watermark: ") + hi + ", write_low_watermark: 0"));
    open_a_and_b(h);
    const auto w = h.submit(h.addr(0, 0, 1, 0, 0, 1), true, 200);
    uint64_t last_read = 0;
    for (uint32_t c = 1; c < 9; ++c) last_read = h.submit(h.addr(0, 0, 0, 0, 0, c), false, 200);
    h.drain();
    return std::make_pair(h.finish[w], h.finish[last_read]);
  };
  const auto drain_late = run("0.8");  // 1 write < 26 entries: reads first
  CHECK(drain_late.first > drain_late.second);
  const auto drain_now = run("0.02");  // 1 write > 0.02 * 32 = 0.64: drain at once
  CHECK(drain_now.first < drain_now.second);
  // A drain starts above the high mark, as Ramulator 2's does: 1 write is not above
  // 1/32 * 32 = 1 (until the sixteenth session it drained at once).
  const auto at_mark = run("0.03125");
  CHECK(at_mark.first > at_mark.second);
}

TEST_CASE("hbm scheduling: closed-page policy precharges after the last queued hit", "[unit]") {
  for (const char* policy : {"open", "closed"}) {
    Harness h(quiet_hbm3(std::string("page_policy: ") + policy));
    h.submit(h.addr(0, 0, 0, 0, 0), false, 0);
    const auto again = h.submit(h.addr(0, 0, 0, 0, 0, 1), false, 200);
    h.drain();
    // open: row hit, 200 + 22; closed: auto-precharged, so a miss: 200 + 53
    CHECK(h.finish[again] == (std::string(policy) == "open" ? 222u : 253u));
  }
}

TEST_CASE("hbm scheduling: the bursts of a 64 B line take a queue slot each", "[unit]") {
  // The line's two bursts are queued as one entry; a second read behind it waits for a
  // slot of a two-entry queue until the first burst has issued (RD at 31).
  Harness h(quiet_hbm3("read_queue: 2"));
  const auto line = h.submit(h.addr(0, 0, 0, 0, 0), false, 0, 64);
  const auto other = h.submit(h.addr(0, 0, 1, 0, 0), false, 0);
  h.drain();
  CHECK(h.finish[line] == 57);   // RD 31 and 35 (tCCD_L), + tCL + tBL
  CHECK(h.finish[other] == 84);  // queued at 31: ACT 31, RD 62, + 22
  CHECK(h.stat("hbm.ch0.reads") == 3);
  CHECK(h.stat("hbm.ch0.row_hits") == 1);
  CHECK(h.stat("hbm.ch0.row_misses") == 2);
}

TEST_CASE("hbm scheduling: a queue with room for one burst takes a line's bursts one by one",
          "[unit]") {
  Harness h(quiet_hbm3("read_queue: 1"));
  const auto line = h.submit(h.addr(0, 0, 0, 0, 0), false, 0, 64);
  h.drain();
  CHECK(h.finish[line] == 57);  // the second burst queued at 31, RD 35
  CHECK(h.stat("hbm.ch0.reads") == 2);
  CHECK(h.stat("hbm.ch0.row_hits") == 1);
  CHECK(h.stat("hbm.ch0.row_misses") == 1);
}

TEST_CASE("hbm scheduling: a younger hit of another bank group issues between a line's bursts",
          "[unit]") {
  Harness h(quiet_hbm3());
  open_a_and_b(h);
  const auto line = h.submit(h.addr(0, 0, 0, 0, 0, 2), false, 200, 64);
  const auto other = h.submit(h.addr(0, 0, 1, 0, 0, 1), false, 200);
  h.drain();
  CHECK(h.finish[line] == 226);   // RD 200 and 204 (tCCD_L)
  CHECK(h.finish[other] == 224);  // RD 202 (tCCD_S after the first)
}

TEST_CASE("hbm scheduling: the two pseudo-channels share the row command bus", "[unit]") {
  Harness h(quiet_hbm3());
  h.submit(h.addr(0, 0, 0, 0, 0), false, 0);
  const auto r = h.submit(h.addr(0, 1, 0, 0, 0), false, 0);
  h.drain();
  // ACT pc0 at 0 holds the row bus for act_bus_cycles (2): ACT pc1 at 2; 2 + 53 = 55
  CHECK(h.finish[r] == 55);
}

// Standby power: each pseudo-channel draws half its channel's, at the precharged level
// (44 mW a channel on HBM3) while every bank it has is closed and the active level
// (60.5 mW) while one is open, as DRAMsim3 counts IDD2N against IDD3N.
TEST_CASE("hbm energy: standby is the precharged level while every bank is closed", "[unit]") {
  const uint64_t T = 100000;  // clocks of run time
  auto run = [&](const std::string& policy, uint64_t& act, double& fraction) {
    const HbmConfig cfg = quiet_hbm3("page_policy: " + policy);
    Harness h(cfg);
    const auto r = h.submit(h.addr(0, 0, 0, 0, 0), false, 0);
    h.drain();
    act = h.finish[r] - cfg.timing.tRCD - cfg.timing.tCL - cfg.tBL();  // the ACT's clock
    h.core.publish(T);
    fraction = h.reg.value("hbm.ch0.precharged_fraction");
    return h.energy.pj_by_kind()["background"];
  };
  const HbmConfig cfg = quiet_hbm3();
  const double tck_ns = cfg.tck_ps() / 1000.0;
  const double pcs = 2.0 * cfg.org.channels;
  const double act_mw = cfg.energy.background_mw,
               pre_mw = act_mw * cfg.energy.precharged_standby_fraction;
  REQUIRE(pre_mw < act_mw);
  const double all_closed = pcs * pre_mw / 2 * double(T) * tck_ns;
  uint64_t act = 0;
  double fraction = 0;
  // Open page: channel 0's pseudo-channel 0 keeps its row open from the ACT to the end.
  const double open = run("open", act, fraction);
  CHECK(open == Approx(all_closed + (act_mw - pre_mw) / 2 * double(T - act) * tck_ns));
  CHECK(fraction == Approx((double(T) + double(act)) / (2.0 * double(T))));
  // Closed page: the row closes with the read's auto-precharge, tRAS after the ACT.
  const double closed = run("closed", act, fraction);
  CHECK(closed == Approx(all_closed + (act_mw - pre_mw) / 2 * double(cfg.timing.tRAS) * tck_ns));
  CHECK(fraction == Approx(1.0 - double(cfg.timing.tRAS) / (2.0 * double(T))));
  CHECK(closed < open);
}

// The banks' clocks are kept in 32 bits from a moving base (HbmController::rebase): a
// pseudo-channel that idles for 2^31 clocks or more must see the same timing as one that
// idles briefly, the refresh phase being equal (every refresh mode repeats each tREFI =
// 6240 clocks on HBM3). With `publish_early`, the stats are published at 6250, while an
// idle pseudo-channel's replayed refresh is under way (the refresh then goes on).
namespace {
struct AfterIdle {
  std::vector<uint64_t> finish;  // relative to the arrival
  double refs, pres, acts;
};
AfterIdle after_idle(const std::string& refresh, uint64_t at, bool publish_early) {
  Harness h(test::preset_config("hbm3",
                                "controller: {refresh: " + refresh + ", write_response: data}\n"));
  open_four_groups(h);                         // rows 0 of banks 0, 4, 8, 12
  h.submit(h.addr(0, 0, 0, 1, 3), true, 100);  // a write leaves bank 1 open
  h.drain();
  if (publish_early) h.core.publish(6250);
  const std::vector<uint64_t> tags = {
      h.submit(h.addr(0, 0, 0, 0, 0, 1), false, at),      // a hit if row 0 stayed open
      h.submit(h.addr(0, 0, 1, 0, 7), false, at),         // a conflict in bank 4
      h.submit(h.addr(0, 0, 2, 2, 5), true, at),          // a closed bank
      h.submit(h.addr(0, 0, 0, 0, 9, 0, 1), false, at)};  // the other SID
  h.drain();
  const uint64_t later = h.submit(h.addr(0, 0, 0, 0, 0, 2), false, at + 3000);
  h.drain();
  AfterIdle r;
  for (const uint64_t t : tags) r.finish.push_back(h.finish[t] - at);
  r.finish.push_back(h.finish[later] - at);
  h.core.publish(at + 6000);
  r.refs = h.stat("hbm.ch0.cmd.ref") + h.stat("hbm.ch0.cmd.refpb");
  r.pres = h.stat("hbm.ch0.cmd.pre");
  r.acts = h.stat("hbm.ch0.cmd.act");
  return r;
}
}  // namespace

TEST_CASE("hbm timing: an idle stretch of 2^31 clocks or more keeps every timing exact", "[unit]") {
  const uint64_t near = 6240 * 40 + 17;
  for (const std::string mode : {"none", "all-bank", "per-bank"}) {
    for (const bool publish_early : {false, true}) {
      const AfterIdle a = after_idle(mode, near, publish_early);
      // Idle stretches about 2^31 and 2^32 clocks long, a little shorter and longer, and
      // 3 x 2^31 and 5 x 2^32.
      for (const double gap :
           {0x1p31 - 5e4, 0x1p31 + 5e4, 0x1p32 - 5e4, 0x1p32 + 5e4, 3 * 0x1p31, 5 * 0x1p32}) {
        INFO("refresh " << mode << ", published early " << publish_early << ", gap " << gap);
        const uint64_t rounds = uint64_t(gap / 6240);
        const AfterIdle b = after_idle(mode, near + rounds * 6240, publish_early);
        CHECK(a.finish == b.finish);
        CHECK(a.pres == b.pres);
        CHECK(a.acts == b.acts);
        // Both pseudo-channels refresh the whole while: 1 (all-bank) or 32 (per-bank)
        // commands each per tREFI.
        const double per_round = mode == "none" ? 0 : mode == "all-bank" ? 2 : 64;
        CHECK(b.refs - a.refs == per_round * double(rounds));
      }
    }
  }
  // A hit after a short idle with refresh off: row 0 stayed open (tCL + tBL = 22).
  CHECK(after_idle("none", near, false).finish[0] == 22);
}
