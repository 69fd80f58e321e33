// A fixed delay of DEPTH clock cycles (DEPTH = 0: a wire). The systolic array uses
// it to skew operands into the array and to de-skew results out of it.
module delay_line #(
    parameter int WIDTH = 8,
    parameter int DEPTH = 1
) (
    input  logic             clk,
    input  logic [WIDTH-1:0] d,
    output logic [WIDTH-1:0] q
);
  if (DEPTH == 0) begin : g_wire
    // A zero-length line has no registers, so its clock is unused by design.
    /* verilator lint_off UNUSEDSIGNAL */
    logic unused_clk;
    assign unused_clk = clk;
    /* verilator lint_on UNUSEDSIGNAL */
    assign q = d;
  end else begin : g_regs
    logic [WIDTH-1:0] stage[DEPTH];
    always_ff @(posedge clk) begin
      stage[0] <= d;
      for (int i = 1; i < DEPTH; i++) stage[i] <= stage[i-1];
    end
    assign q = stage[DEPTH-1];
  end
endmodule
