#include "models/sim/huge_pages.h"

#include <cstdint>
#include <cstdlib>

#if defined(__linux__) && defined(__GLIBC__)
#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>
#endif

namespace tessera::sim {

size_t prefer_huge_pages(size_t reserve_bytes) {
#if defined(__linux__) && defined(__GLIBC__) && defined(MADV_HUGEPAGE)
  constexpr uintptr_t kHuge = uintptr_t(2) << 20;
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
  const uintptr_t lo = (before + kHuge - 1) & ~(kHuge - 1), hi = after & ~(kHuge - 1);
  if (hi <= lo) return 0;
  if (madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_HUGEPAGE) != 0) return 0;
  return size_t(hi - lo);
#else
  (void)reserve_bytes;
  return 0;
#endif
}

size_t end_huge_pages() {
#if defined(__linux__) && defined(__GLIBC__) && defined(MADV_NOHUGEPAGE)
  constexpr uintptr_t kHuge = uintptr_t(2) << 20;
  const auto top = reinterpret_cast<uintptr_t>(sbrk(0));
  if (top == uintptr_t(-1)) return 0;
  // The heap's free top chunk (keepcost) starts where the last allocation ends.
  const uintptr_t free_from = top - mallinfo2().keepcost;
  const uintptr_t lo = (free_from + kHuge - 1) & ~(kHuge - 1);
  if (top <= lo) return 0;
  if (madvise(reinterpret_cast<void*>(lo), top - lo, MADV_NOHUGEPAGE) != 0) return 0;
  return size_t(top - lo);
#else
  return 0;
#endif
}

}  // namespace tessera::sim
