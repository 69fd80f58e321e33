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
  HbmLocation decode(uint64_t addr) const;
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
  std::vector<Digit> digits_;  // least significant first
  std::vector<std::string> names_;
  uint32_t access_bytes_;
  uint32_t access_shift_;
  bool xor_hash_;
  uint32_t banks_per_group_;
  uint32_t bank_groups_;
  uint32_t bank_shift_;
};

}  // namespace tessera::memory
