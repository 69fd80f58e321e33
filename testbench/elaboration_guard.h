// SystemC allows one elaboration per process; CTest runs each test case in its own
// process. A test that builds modules starts with TESSERA_ONE_ELABORATION() so that
// running a whole test binary by hand fails clearly instead of with E529.
#pragma once
#include <catch2/catch.hpp>
#include <systemc>

#define TESSERA_ONE_ELABORATION()                                                 \
  do {                                                                            \
    if (sc_core::sc_get_status() != sc_core::SC_ELABORATION)                      \
      FAIL("one SystemC elaboration per process: run this test case on its own"); \
  } while (0)
