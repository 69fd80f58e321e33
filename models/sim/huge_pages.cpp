#include "models/sim/huge_pages.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>

#if defined(__linux__) && defined(__GLIBC__)
#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>
#if defined(MADV_HUGEPAGE) && defined(MADV_NOHUGEPAGE) && __GLIBC_PREREQ(2, 33)
#define TESSERA_END_HUGE_PAGES 1  // mallinfo2 (glibc 2.33)
#endif
#endif

namespace tessera::sim {

namespace {
[[maybe_unused]] constexpr uintptr_t kHuge = uintptr_t(2) << 20;
[[maybe_unused]] uintptr_t align_up_huge(uintptr_t a) {
  return (a + kHuge - 1) & ~(kHuge - 1);
}
#ifdef TESSERA_END_HUGE_PAGES
// The range prefer_huge_pages() marked (empty: none), for end_huge_pages().
uintptr_t marked_lo = 0, marked_hi = 0;
#endif
}  // namespace

size_t prefer_huge_pages(size_t reserve_bytes) {
#if defined(__linux__) && defined(__GLIBC__) && defined(MADV_HUGEPAGE)
  // Everything below 32 MiB from the heap (not a mapping each); every extension of the
  // heap adds `reserve_bytes`, and free space at its top is never handed back (it would
  // be re-mapped with small pages).
  if (mallopt(M_MMAP_THRESHOLD, 32 << 20) != 1 || mallopt(M_TOP_PAD, int(reserve_bytes)) != 1 ||
      mallopt(M_TRIM_THRESHOLD, int(2 * reserve_bytes)) != 1)
    return 0;
  const auto before = reinterpret_cast<uintptr_t>(sbrk(0));
  // Larger than the free top a fresh heap has, so the heap grows now by the reserve
  // (volatile: a compiler may drop an unused malloc/free pair).
  void* volatile probe = malloc(kHuge);
  const auto after = reinterpret_cast<uintptr_t>(sbrk(0));
  free(probe);
  // Reserved or not, later growth goes in small steps again, so it does not ask for
  // another whole reserve of address space each time.
  mallopt(M_TOP_PAD, 128 << 10);
  if (before == uintptr_t(-1) || after == uintptr_t(-1) || after <= before) {
    // The heap could not grow (strict overcommit, a foreign allocator): no reserve to keep.
    mallopt(M_TRIM_THRESHOLD, 128 << 10);
    return 0;
  }
  const uintptr_t lo = align_up_huge(before), hi = after & ~(kHuge - 1);
  if (hi <= lo) return 0;
  if (madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_HUGEPAGE) != 0) return 0;
#ifdef TESSERA_END_HUGE_PAGES
  marked_lo = lo;
  marked_hi = hi;
#endif
  return size_t(hi - lo);
#else
  (void)reserve_bytes;
  return 0;
#endif
}

size_t end_huge_pages() {
#ifdef TESSERA_END_HUGE_PAGES
  if (marked_hi == 0) return 0;  // nothing was marked
  const auto top = reinterpret_cast<uintptr_t>(sbrk(0));
  const size_t keep = mallinfo2().keepcost;
  // The main arena's free top chunk (keepcost) ends at the break and starts where the
  // last allocation ends, while the heap is one contiguous break; otherwise (the break
  // moved by someone else, or malloc fell back to mappings) leave the marks as they are.
  if (top == uintptr_t(-1) || keep > top || top < marked_lo) return 0;
  const uintptr_t lo = std::max(marked_lo, align_up_huge(top - keep));
  const uintptr_t hi = std::min(top, marked_hi);
  if (hi <= lo) return 0;
  if (madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_NOHUGEPAGE) != 0) return 0;
  return size_t(hi - lo);
#else
  return 0;
#endif
}

}  // namespace tessera::sim
