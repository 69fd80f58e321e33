// Records kept in a vector and reused through a free list: acquire() hands out the most
// recently released index (or a new one), release() gives an index back. Indices stay
// valid for the table's life; growing it may move the records (as a vector does).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace tessera::sim {

template <class T>
class SlotTable {
 public:
  uint32_t acquire() {
    if (!free_.empty()) {
      const uint32_t i = free_.back();
      free_.pop_back();
      return i;
    }
    items_.emplace_back();
    return uint32_t(items_.size() - 1);
  }
  void release(uint32_t i) { free_.push_back(i); }
  T& operator[](size_t i) { return items_[i]; }
  const T& operator[](size_t i) const { return items_[i]; }
  const T* data() const { return items_.data(); }
  size_t size() const { return items_.size(); }  // slots ever made (live or free)

 private:
  std::vector<T> items_;
  std::vector<uint32_t> free_;
};

}  // namespace tessera::sim
