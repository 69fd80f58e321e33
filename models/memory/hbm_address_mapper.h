// Physical address -> (channel, pseudo-channel, SID, bank group, bank, row, column)
// as a configurable order of fields (mixed-radix digits, so a row count that is not a
// power of two still maps every address in [0, capacity) to exactly one location).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "models/memory/hbm_config.h"

namespace tessera::memory {

struct HbmLocation {
  uint32_t channel = 0;
  uint32_t pc = 0;
  uint32_t sid = 0;
  uint32_t bank_group = 0;  // within the SID
  uint32_t bank = 0;        // within the bank group
  uint32_t row = 0;
  uint32_t column = 0;  // in column accesses (units of the access granularity)
};

class HbmAddressMapper {
 public:
  enum Field { kRow, kBank, kSid, kBankGroup, kPc, kChannel, kColumn, kColumnLow, kFields };

  // Throws sim::ConfigError for an order that misses or repeats a field.
  explicit HbmAddressMapper(const HbmConfig& cfg);

  // addr is relative to the stack's base; must be < capacity (checked by the caller).
  // Inline: one call per column access.
  HbmLocation decode(uint64_t addr) const {
    uint64_t v = addr >> access_shift_;
    uint32_t val[kFields];
    if (n_fields_ == kFields) {
      // Every radix a power of two (the presets): fixed bit fields, indexed by field.
      for (uint32_t f = 0; f < kFields; ++f) val[f] = uint32_t((v >> pos_[f]) & mask_[f]);
    } else {
      // The power-of-two digits below the first other one are plain bit fields.
      for (uint32_t i = 0; i < n_fields_; ++i)
        val[fields_[i].field] = uint32_t((v >> fields_[i].pos) & fields_[i].mask);
      decode_rest(v >> rest_shift_, val);
    }
    HbmLocation loc;
    loc.channel = val[kChannel];
    loc.pc = val[kPc];
    loc.sid = val[kSid];
    loc.bank_group = val[kBankGroup];
    loc.bank = val[kBank];
    loc.row = val[kRow];
    loc.column = uint32_t(uint64_t(val[kColumn]) * low_ + val[kColumnLow]);
    if (xor_hash_) {
      // Low row bits flip bank and bank-group bits: a bijection for each row.
      loc.bank ^= loc.row & (banks_per_group_ - 1);
      loc.bank_group ^= (loc.row >> bank_shift_) & (bank_groups_ - 1);
    }
    return loc;
  }
  // How many consecutive accesses from `addr` on (itself included) lie in the same row
  // of the same bank: the column digits at the bottom of the address run out first.
  uint64_t run_accesses(uint64_t addr) const {
    const uint64_t v = addr >> access_shift_;
    return run_ - (run_pow2_ ? v & (run_ - 1) : v % run_);
  }
  // The inverse (for tests and traffic generators): the address of a location.
  uint64_t encode(const HbmLocation& loc) const;
  // Field names, most significant first, as resolved from the config.
  const std::vector<std::string>& order() const { return names_; }

 private:
  struct Digit {
    Field field;
    uint64_t radix;
    uint32_t shift;  // log2(radix) when radix is a power of two
    bool pow2;
  };
  struct BitField {
    Field field;
    uint32_t pos;
    uint64_t mask;
  };
  void decode_rest(uint64_t v, uint32_t* val) const;
  std::vector<Digit> digits_;  // least significant first
  BitField fields_[kFields];   // digits_[0, n_fields_) as bit fields of the access index
  uint32_t n_fields_ = 0;
  uint32_t pos_[kFields] = {};  // the same by field, when n_fields_ == kFields
  uint64_t mask_[kFields] = {};
  uint32_t rest_shift_ = 0;  // bits taken by those
  uint64_t low_ = 1;         // radix of the low column digit
  uint64_t run_ = 1;         // product of the column digits at the bottom (one row's run)
  bool run_pow2_ = true;     // always, with the validated configs; % kept for any other
  std::vector<std::string> names_;
  uint32_t access_bytes_;
  uint32_t access_shift_;
  bool xor_hash_;
  uint32_t banks_per_group_;
  uint32_t bank_groups_;
  uint32_t bank_shift_;
};

}  // namespace tessera::memory
