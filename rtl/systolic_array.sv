// A ROWS x COLS systolic array of systolic_pe, weight- or output-stationary
// (os_mode, static for a job). The scratchpad side is unskewed: one operand vector
// enters per cycle on each edge and one result row leaves per cycle; the delay lines
// here skew inputs (row r by r cycles, column c by c) and de-skew outputs (column c
// by COLS-1-c), so a result row appears all at once.
//
// Left edge : a_vec (one int8 per row) + valid/sel/first, every cycle an operand.
// Top edge  : b_vec (OS: one row of B), w_vec (WS: one row of weights, bottom row
//             first), sh_en/sh_bank (shift the chosen bank down by one row).
// Bottom    : out_vec/out_valid. WS: a row of partial sums. OS: a row of drained
//             results (row ROWS-1 first).
module systolic_array #(
    parameter int ROWS = 4,
    parameter int COLS = 4
) (
    input logic clk,
    input logic os_mode,

    input logic [ROWS*8-1:0] a_vec,
    input logic              a_valid,
    input logic              a_sel,
    input logic              a_first,

    input logic [COLS*8-1:0] b_vec,
    input logic [COLS*8-1:0] w_vec,
    input logic              sh_en,
    input logic              sh_bank,

    output logic [COLS*32-1:0] out_vec,
    output logic               out_valid
);
  // Nets between PEs; index COLS (right) and ROWS (bottom) are the array's far edges.
  logic signed [7:0] a_h[ROWS][COLS+1];
  logic va_h[ROWS][COLS+1];
  logic sel_h[ROWS][COLS+1];
  logic first_h[ROWS][COLS+1];
  logic signed [31:0] v_v[ROWS+1][COLS];
  logic signed [31:0] sh_v[ROWS+1][COLS];
  logic col_en[COLS];
  logic col_bank[COLS];
  logic [COLS-1:0] drain_valid;

  // Left edge: skew row r by r cycles.
  for (genvar r = 0; r < ROWS; r++) begin : g_row_skew
    logic [10:0] skewed;
    delay_line #(
        .WIDTH(11),
        .DEPTH(r)
    ) u_skew (
        .clk(clk),
        .d  ({a_first, a_sel, a_valid, a_vec[r*8+:8]}),
        .q  (skewed)
    );
    assign a_h[r][0] = skewed[7:0];
    assign va_h[r][0] = skewed[8];
    assign sel_h[r][0] = skewed[9];
    assign first_h[r][0] = skewed[10];
  end

  // Top edge: skew column c by c cycles.
  for (genvar c = 0; c < COLS; c++) begin : g_col_skew
    logic [17:0] skewed;
    delay_line #(
        .WIDTH(18),
        .DEPTH(c)
    ) u_skew (
        .clk(clk),
        .d  ({sh_bank, sh_en, w_vec[c*8+:8], b_vec[c*8+:8]}),
        .q  (skewed)
    );
    assign v_v[0][c] = os_mode ? 32'(signed'(skewed[7:0])) : 32'sd0;
    assign sh_v[0][c] = 32'(signed'(skewed[15:8]));
    assign col_en[c] = skewed[16];
    assign col_bank[c] = skewed[17];
  end

  for (genvar r = 0; r < ROWS; r++) begin : g_r
    for (genvar c = 0; c < COLS; c++) begin : g_c
      systolic_pe u_pe (
          .clk        (clk),
          .os_mode    (os_mode),
          .a_in       (a_h[r][c]),
          .a_valid_in (va_h[r][c]),
          .a_sel_in   (sel_h[r][c]),
          .a_first_in (first_h[r][c]),
          .a_out      (a_h[r][c+1]),
          .a_valid_out(va_h[r][c+1]),
          .a_sel_out  (sel_h[r][c+1]),
          .a_first_out(first_h[r][c+1]),
          .v_in       (v_v[r][c]),
          .v_out      (v_v[r+1][c]),
          .sh_en      (col_en[c]),
          .sh_bank    (col_bank[c]),
          .sh_in      (sh_v[r][c]),
          .sh_out     (sh_v[r+1][c])
      );
    end
  end

  // Bottom edge: register the value leaving each column (WS: the partial sum is
  // already registered in the PE; OS: capture the drained bank), then de-skew.
  for (genvar c = 0; c < COLS; c++) begin : g_out
    logic signed [31:0] drained;
    logic [31:0] col_out;
    always_ff @(posedge clk) begin
      drained <= sh_v[ROWS][c];
      drain_valid[c] <= col_en[c];
    end
    delay_line #(
        .WIDTH(32),
        .DEPTH(COLS - 1 - c)
    ) u_deskew (
        .clk(clk),
        .d  (os_mode ? drained : v_v[ROWS][c]),
        .q  (col_out)
    );
    assign out_vec[c*32+:32] = col_out;
  end
  // Column COLS-1 needs no de-skew, so its valid is the row's valid.
  assign out_valid = os_mode ? drain_valid[COLS-1] : va_h[ROWS-1][COLS];

  // The far edges' outputs leave the array unused by design; drain_valid of the
  // other columns equals column COLS-1's after de-skew.
  /* verilator lint_off UNUSED */
  logic unused_edges;
  always_comb begin
    unused_edges = ^drain_valid[COLS-1:0];
    for (int r = 0; r < ROWS; r++)
      unused_edges = unused_edges ^ (^a_h[r][COLS]) ^ sel_h[r][COLS] ^ first_h[r][COLS];
    for (int r = 0; r < ROWS - 1; r++) unused_edges = unused_edges ^ va_h[r][COLS];
  end
  /* verilator lint_on UNUSED */
endmodule
