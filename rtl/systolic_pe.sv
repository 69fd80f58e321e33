// One processing element: int8 x int8 -> int32 multiply-accumulate with registered
// hand-off to its right (operand a) and lower (v) neighbours, and two 32-bit bank
// registers that form, per column, a vertical shift chain.
//
//   weight-stationary (os_mode = 0): bank[sel][7:0] holds the weight of the fold the
//     operand belongs to; v carries the partial sum down: v_out <= v_in + a * w.
//     Weights are shifted into one bank from the top while the other bank computes.
//   output-stationary (os_mode = 1): v carries the weight operand b down unchanged;
//     bank[sel] accumulates a * b; the finished bank is shifted out at the bottom
//     while the other bank accumulates the next fold.
// The bank index (sel) travels with the operand, so each PE switches folds exactly
// when the first operand of the next fold reaches it.
module systolic_pe (
    input logic clk,
    input logic os_mode,

    input  logic signed [7:0] a_in,
    input  logic              a_valid_in,
    input  logic              a_sel_in,
    input  logic              a_first_in,  // OS: first k of a fold, restart the sum
    output logic signed [7:0] a_out,
    output logic              a_valid_out,
    output logic              a_sel_out,
    output logic              a_first_out,

    input  logic signed [31:0] v_in,
    output logic signed [31:0] v_out,

    input  logic               sh_en,
    input  logic               sh_bank,
    input  logic signed [31:0] sh_in,
    output logic signed [31:0] sh_out
);
  logic signed [31:0] bank0, bank1;
  logic signed [31:0] cur;
  logic signed [7:0] mult_b;
  logic signed [15:0] prod;
  logic signed [31:0] acc_base;

  assign cur = a_sel_in ? bank1 : bank0;
  assign mult_b = os_mode ? v_in[7:0] : cur[7:0];
  assign prod = a_in * mult_b;
  assign acc_base = a_first_in ? 32'sd0 : cur;
  assign sh_out = sh_bank ? bank1 : bank0;

  always_ff @(posedge clk) begin
    a_out       <= a_in;
    a_valid_out <= a_valid_in;
    a_sel_out   <= a_sel_in;
    a_first_out <= a_first_in;
    if (os_mode) v_out <= v_in;
    else v_out <= a_valid_in ? v_in + 32'(prod) : v_in;
  end

  // A shift always wins over an accumulation into the same bank; the sequencer never
  // schedules both (a wrong schedule shows up as wrong results in the tests).
  always_ff @(posedge clk) begin
    if (sh_en && !sh_bank) bank0 <= sh_in;
    else if (os_mode && a_valid_in && !a_sel_in) bank0 <= acc_base + 32'(prod);
  end
  always_ff @(posedge clk) begin
    if (sh_en && sh_bank) bank1 <= sh_in;
    else if (os_mode && a_valid_in && a_sel_in) bank1 <= acc_base + 32'(prod);
  end
endmodule
