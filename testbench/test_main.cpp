// The test runner of every test binary: SystemC's libsystemc.so owns main() and
// calls sc_main, which hands over to Catch2.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#include <systemc>

int sc_main(int argc, char* argv[]) {
  sc_core::sc_report_handler::set_actions("/OSCI/SystemC", sc_core::SC_INFO,
                                          sc_core::SC_DO_NOTHING);
  return Catch::Session().run(argc, argv);
}
