# bench_time_bwd: backward time against L, fused and v1, with the PyTorch forward+backward baselines
load root.'/common/plot.gp'
set datafile missing 'nan'
set title 'Selective scan backward, batch 8, D 2048, N 16 (z, D, {/Symbol D} bias on)'
set xlabel 'sequence length L'
set ylabel 'time (ms)'
set logscale xy 2
set format x '2^{%L}'
set logscale y 10
set format y '10^{%L}'
set key right bottom
f32 = outdir.'/bench_time_fp32.dat'
b16 = outdir.'/bench_time_bf16.dat'
tch = outdir.'/bench_torch.dat'
have = system('test -f '.tch.' && echo 1') eq '1'
plot f32 using 1:6 with linespoints pt 7 title 'v1 backward (materialized, fp32)', \
     f32 using 1:7 with linespoints pt 11 title 'fused backward (fp32)', \
     b16 using 1:7 with linespoints pt 13 title 'fused backward (bf16)', \
     f32 using 1:5 with lines dt 4 title 'v4 forward (fp32), for scale', \
     f32 using 1:10 with lines dt 5 title 'v5 forward (fp32), for scale', \
     f32 using 1:12 with lines dt 3 lw 2 title 'v6 forward (fp32), for scale', \
     f32 using 1:9 with lines dt 2 lc rgb 'black' title 'backward floor fp32', \
     (have ? tch : f32) using 1:(have ? $3 : NaN) with linespoints pt 4 lc rgb '#8c564b' title 'PyTorch scan fwd+bwd (fp32)', \
     (have ? tch : f32) using 1:(have ? $5 : NaN) with linespoints pt 6 lc rgb '#e377c2' title 'SDPA attention fwd+bwd (bf16)'
