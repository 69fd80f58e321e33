// Transparent huge pages for the simulation's heap. A whole-machine run keeps tens of
// megabytes of model state hot (HBM queues and banks, routers, transactions) and
// touches it in no order the hardware can predict: with 4 KiB pages most of those
// touches also miss the TLB. On Linux with THP in "madvise" mode (the common default)
// only regions a process marks get huge pages, so the heap is marked here, before the
// model is built: allocations come from a large reserved top of the heap that is
// marked as wanting huge pages, and so are backed by 2 MiB pages when first touched.
// Results do not depend on it; where it is not available nothing changes.
#pragma once

#include <cstddef>

namespace tessera::sim {

// Reserves `reserve_bytes` (virtual, committed only when touched) at the top of the
// heap, keeps it there (no trimming), sends allocations below 32 MiB to the heap, and
// marks the reserved range MADV_HUGEPAGE (growth beyond it gets ordinary pages). Returns the bytes
// marked (0: not done: not Linux/glibc, the heap did not grow, or the kernel refused). Call once,
// early.
size_t prefer_huge_pages(size_t reserve_bytes = size_t(512) << 20);

// Ends huge pages for later growth of the heap: what prefer_huge_pages() marked and is
// still free above the highest allocation (from the next 2 MiB boundary) gets ordinary
// pages again. Called once the long-lived model state is built: later allocations (the
// loaded programs, SystemC's process stacks, statistics buffers, the result files' text)
// are read or written in order, gain little from huge pages, and each new huge page
// costs its zeroing (milliseconds on some virtual machines). Returns the bytes unmarked
// (0: nothing marked, glibc older than 2.33, or a heap that is not one contiguous break).
size_t end_huge_pages();

}  // namespace tessera::sim
