// A map from pointers to small values, for the per-transaction look-ups of the
// interconnect glue (which initiator sent a payload, which network transaction it
// belongs to): open addressing with linear probing in one flat array, so a look-up is
// one or two cache lines and an insertion or removal allocates nothing (a node-based
// std::unordered_map cost a bucket and a node miss and a malloc/free per payload).
// Only look-ups by key; never iterated, so its order cannot leak into results.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace tessera::sim {

template <class V>
class PtrMap {
 public:
  PtrMap() { slots_.resize(16); }

  // Sets the value of `k` (inserting it when absent).
  void set(const void* k, V v) {
    if (2 * (size_ + 1) > slots_.size()) grow();
    size_t i = home(k);
    while (slots_[i].key && slots_[i].key != k) i = (i + 1) & mask();
    if (!slots_[i].key) {
      slots_[i].key = k;
      ++size_;
    }
    slots_[i].value = v;
  }
  // The value of `k`, or nullptr when absent (valid until the next set or erase).
  V* find(const void* k) {
    for (size_t i = home(k);; i = (i + 1) & mask()) {
      if (slots_[i].key == k) return &slots_[i].value;
      if (!slots_[i].key) return nullptr;
    }
  }
  // Removes `k`; returns whether it was there.
  bool erase(const void* k) {
    size_t i = home(k);
    while (slots_[i].key != k) {
      if (!slots_[i].key) return false;
      i = (i + 1) & mask();
    }
    // Backward-shift deletion: later members of the probe run move into the hole, so
    // no tombstones are left.
    for (size_t j = (i + 1) & mask();; j = (j + 1) & mask()) {
      if (!slots_[j].key) break;
      const size_t h = home(slots_[j].key);
      // Move slot j into the hole at i unless its home lies cyclically in (i, j].
      const bool stays = i <= j ? (i < h && h <= j) : (i < h || h <= j);
      if (stays) continue;
      slots_[i] = slots_[j];
      i = j;
    }
    slots_[i].key = nullptr;
    --size_;
    return true;
  }
  size_t size() const { return size_; }

 private:
  struct Slot {
    const void* key = nullptr;
    V value{};
  };
  size_t mask() const { return slots_.size() - 1; }
  size_t home(const void* k) const {
    // Fibonacci hashing of the address (payloads are 8-byte aligned and often in arrays).
    const uint64_t h = uint64_t(reinterpret_cast<uintptr_t>(k)) * 0x9E3779B97F4A7C15ull;
    return size_t(h >> 32) & mask();
  }
  void grow() {
    std::vector<Slot> old;
    old.swap(slots_);
    slots_.resize(old.size() * 2);
    size_ = 0;
    for (const Slot& s : old)
      if (s.key) set(s.key, s.value);
  }

  std::vector<Slot> slots_;
  size_t size_ = 0;
};

}  // namespace tessera::sim
