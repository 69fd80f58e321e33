#include "models/memory/hbm_address_mapper.h"

#include <algorithm>

#include "models/sim/config_schema.h"

namespace tessera::memory {

namespace {
uint32_t log2u(uint64_t x) {
  uint32_t n = 0;
  while ((uint64_t(1) << n) < x) ++n;
  return n;
}
bool is_pow2(uint64_t x) {
  return x && !(x & (x - 1));
}
}  // namespace

HbmAddressMapper::HbmAddressMapper(const HbmConfig& cfg)
    : access_bytes_(cfg.access_bytes()),
      access_shift_(log2u(cfg.access_bytes())),
      xor_hash_(cfg.mapping.xor_bank_hash),
      banks_per_group_(cfg.org.banks_per_group),
      bank_groups_(cfg.org.bank_groups),
      bank_shift_(log2u(cfg.org.banks_per_group)) {
  const auto& m = cfg.mapping;
  if (m.scheme == "cacheline")
    names_ = {"row", "bank", "sid", "column", "bankgroup", "pseudochannel", "channel"};
  else if (m.scheme == "row")
    names_ = {"row", "bank", "sid", "bankgroup", "pseudochannel", "channel", "column"};
  else
    names_ = m.order;
  static const char* kNames[] = {"row",           "bank",    "sid",   "bankgroup",
                                 "pseudochannel", "channel", "column"};
  std::array<int, 7> seen{};
  std::vector<Field> msb_first;
  for (const auto& n : names_) {
    auto it =
        std::find_if(std::begin(kNames), std::end(kNames), [&](const char* k) { return n == k; });
    if (it == std::end(kNames))
      throw sim::ConfigError("mapping.order: unknown field '" + n +
                             "' (row, bank, sid, bankgroup, pseudochannel, channel, column)");
    const int f = int(it - std::begin(kNames));
    if (seen[f]++) throw sim::ConfigError("mapping.order: field '" + n + "' appears twice");
    msb_first.push_back(Field(f));
  }
  for (int f = 0; f < 7; ++f)
    if (!seen[f])
      throw sim::ConfigError(std::string("mapping.order: field '") + kNames[f] + "' is missing");

  // The low column digits (interleave_bytes of one pseudo-channel) sit at the bottom.
  const uint64_t cols = cfg.columns();
  const uint64_t low = std::min<uint64_t>(cols, cfg.mapping.interleave_bytes / access_bytes_);
  auto radix = [&](Field f) -> uint64_t {
    switch (f) {
      case kRow:
        return cfg.org.rows;
      case kBank:
        return cfg.org.banks_per_group;
      case kSid:
        return cfg.org.sids;
      case kBankGroup:
        return cfg.org.bank_groups;
      case kPc:
        return cfg.org.pseudo_channels;
      case kChannel:
        return cfg.org.channels;
      case kColumn:
        return cols / low;
      default:
        return low;
    }
  };
  auto add = [&](Field f) {
    const uint64_t r = radix(f);
    digits_.push_back({f, r, log2u(r), is_pow2(r)});
  };
  add(kColumnLow);
  for (auto it = msb_first.rbegin(); it != msb_first.rend(); ++it) add(*it);
  low_ = digits_[0].radix;
  // A row's run: the column digits at the bottom, and any digit of one value between them.
  run_ = 1;
  for (const auto& d : digits_) {
    if (d.field != kColumnLow && d.field != kColumn && d.radix != 1) break;
    run_ *= d.radix;
  }
  run_pow2_ = is_pow2(run_);
  for (const auto& d : digits_) {
    if (!d.pow2) break;
    fields_[n_fields_++] = {d.field, rest_shift_, d.radix - 1};
    pos_[d.field] = rest_shift_;
    mask_[d.field] = d.radix - 1;
    rest_shift_ += d.shift;
  }
}

// The digits from the first whose radix is not a power of two (mixed radix).
void HbmAddressMapper::decode_rest(uint64_t v, uint32_t* val) const {
  for (size_t i = n_fields_; i < digits_.size(); ++i) {
    const Digit& d = digits_[i];
    if (d.pow2) {
      val[d.field] = uint32_t(v & (d.radix - 1));
      v >>= d.shift;
    } else {
      val[d.field] = uint32_t(v % d.radix);
      v /= d.radix;
    }
  }
}

uint64_t HbmAddressMapper::encode(const HbmLocation& in) const {
  HbmLocation loc = in;
  if (xor_hash_) {
    loc.bank ^= loc.row & (banks_per_group_ - 1);
    loc.bank_group ^= (loc.row >> bank_shift_) & (bank_groups_ - 1);
  }
  const uint64_t low = digits_[0].radix;
  uint64_t val[kFields] = {};
  val[kChannel] = loc.channel;
  val[kPc] = loc.pc;
  val[kSid] = loc.sid;
  val[kBankGroup] = loc.bank_group;
  val[kBank] = loc.bank;
  val[kRow] = loc.row;
  val[kColumn] = loc.column / low;
  val[kColumnLow] = loc.column % low;
  uint64_t v = 0;
  for (auto it = digits_.rbegin(); it != digits_.rend(); ++it) v = v * it->radix + val[it->field];
  return v << access_shift_;
}

}  // namespace tessera::memory
