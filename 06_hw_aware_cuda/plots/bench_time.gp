# bench_time: forward time of every version against L, with the floor and the PyTorch baselines
load root.'/common/plot.gp'
set datafile missing 'nan'
set title 'Selective scan forward, batch 8, D 2048, N 16 (z, D, {/Symbol D} bias on)'
set xlabel 'sequence length L'
set ylabel 'time (ms)'
set logscale xy 2
set format x '2^{%L}'
set logscale y 10
set format y '10^{%L}'
set key left top font ',9'
f32 = outdir.'/bench_time_fp32.dat'
b16 = outdir.'/bench_time_bf16.dat'
tch = outdir.'/bench_torch.dat'
plot f32 using 1:2 with linespoints pt 7 title 'v1 unfused (fp32)', \
     f32 using 1:3 with linespoints pt 5 title 'v2 fused sequential (fp32)', \
     f32 using 1:4 with linespoints pt 9 title 'v3 fused chunked (fp32)', \
     f32 using 1:5 with linespoints pt 11 title 'v4 tuned (fp32)', \
     b16 using 1:5 with linespoints pt 13 title 'v4 tuned (bf16)', \
     f32 using 1:10 with linespoints pt 15 title 'v5 per state (fp32)', \
     b16 using 1:10 with linespoints pt 3 title 'v5 per state (bf16)', \
     f32 using 1:12 with linespoints pt 1 lw 2 dt 2 title 'v6 state tiles (fp32)', \
     b16 using 1:12 with linespoints pt 2 lw 2 title 'v6 state tiles (bf16)', \
     f32 using 1:8 with lines dt 2 lc rgb 'black' title 'floor fp32', \
     b16 using 1:8 with lines dt 3 lc rgb 'gray40' title 'floor bf16', \
     (system('test -f '.tch.' && echo 1') eq '1' ? tch : f32) using 1:(system('test -f '.tch.' && echo 1') eq '1' ? $2 : NaN) with linespoints pt 4 lc rgb '#8c564b' title 'PyTorch scan (fp32)', \
     (system('test -f '.tch.' && echo 1') eq '1' ? tch : f32) using 1:(system('test -f '.tch.' && echo 1') eq '1' ? $4 : NaN) with linespoints pt 6 lc rgb '#e377c2' title 'SDPA causal attention (bf16)'
