// The `tessera` executable. libsystemc.so has a main() too; ours takes precedence so
// that SystemC's copyright banner (printed before sc_main) stays off a tool's stderr.
#include <cstdlib>

#include <systemc>

#include "apps/cli.h"
#include "models/sim/huge_pages.h"

int sc_main(int argc, char* argv[]) {
  return tessera::apps::run_cli(argc, argv);
}

int main(int argc, char* argv[]) {
  setenv("SYSTEMC_DISABLE_COPYRIGHT_MESSAGE", "1", 0);  // a user may still ask for it
  tessera::sim::prefer_huge_pages();                    // before the model is built on the heap
  return sc_core::sc_elab_and_sim(argc, argv);
}
