// Items handed to a callback at given simulation times, in time order (FIFO among equal
// times). For approximately-timed models that hold many transactions in flight at once:
// tlm_utils' payload event queue keeps a sorted list (linear insertion), which made a
// fabric with tens of thousands of requests in flight quadratic; this is a binary heap
// and one method process.
#pragma once

#include <cstdint>
#include <functional>
#include <queue>
#include <utility>
#include <vector>

#include <systemc>

namespace tessera::sim {

template <class T>
class TimedQueue {
 public:
  // Spawns its method process: construct during elaboration (in a module's constructor).
  TimedQueue(const char* name, std::function<void(T&)> fn) : fn_(std::move(fn)) {
    sc_core::sc_spawn_options o;
    o.spawn_method();
    o.set_sensitivity(&ev_);
    o.dont_initialize();
    sc_core::sc_spawn([this] { run(); }, sc_core::sc_gen_unique_name(name), &o);
  }
  // Hands `item` to the callback `delay` from now.
  void push(const sc_core::sc_time& delay, T item) {
    heap_.push(Entry{(sc_core::sc_time_stamp() + delay).value(), seq_++, std::move(item)});
    ev_.notify(delay);  // an earlier pending notification wins
  }
  // Hands `item` to the callback at `t_ps` (rounded to the picosecond; now if past).
  void push_at(double t_ps, T item) {
    const sc_core::sc_time at = sc_core::sc_time::from_value(uint64_t(t_ps + 0.5));
    const sc_core::sc_time now = sc_core::sc_time_stamp();
    push(at > now ? at - now : sc_core::SC_ZERO_TIME, std::move(item));
  }
  size_t size() const { return heap_.size(); }

 private:
  struct Entry {
    uint64_t at, seq;
    T item;
    bool operator>(const Entry& o) const { return at != o.at ? at > o.at : seq > o.seq; }
  };
  void run() {
    const uint64_t now = sc_core::sc_time_stamp().value();
    while (!heap_.empty() && heap_.top().at <= now) {
      T item = heap_.top().item;
      heap_.pop();
      fn_(item);  // may push more
    }
    if (!heap_.empty()) ev_.notify(sc_core::sc_time::from_value(heap_.top().at - now));
  }
  std::function<void(T&)> fn_;
  std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> heap_;
  uint64_t seq_ = 0;
  sc_core::sc_event ev_;
};

}  // namespace tessera::sim
