load root.'/common/plot.gp'
# three panels: a wider canvas than common/plot.gp's, the keys below each panel
if (ext eq 'svg') { set terminal svg size 1800,800 dynamic enhanced font 'Sans,12' background rgb 'white' } \
else { set terminal pngcairo size 1800,800 enhanced font 'Sans,11' }
set output outdir.'/'.name.'.'.ext
# results/bench_gpu_{fwd,fwdbwd,chunk}.dat, written by reference/bench_table.py from one H200 run
set multiplot layout 1,3 title 'mLSTM on an NVIDIA H200 (batch 2 x 8 heads of 64) against attention, the Mamba-1 scan (512 channels, N = 16) and our SSD (8 heads of 64, N = 64)'
set xlabel 'sequence length L' offset 0,0.5
set ylabel 'time (ms)'
set logscale xy
set key outside below left Left reverse font ',9' maxcols 1
set title 'forward'
set autoscale y
plot outdir.'/bench_gpu_fwd.dat' using 1:2 with linespoints title 'ours: mLSTM parallel (8.9), naive, fp32', \
     '' using 1:3 with linespoints title 'ours: mLSTM chunkwise, fp32', \
     '' using 1:4 with linespoints title 'ours: mLSTM chunkwise, bf16 tensor cores', \
     '' using 1:5 with linespoints title 'PyTorch chunkwise mLSTM, bf16', \
     '' using 1:6 with linespoints title 'SDPA causal, fp32', \
     '' using 1:7 with linespoints title 'SDPA causal, bf16 (FlashAttention)', \
     '' using 1:8 with linespoints title 'ours: Mamba-1 scan v6 (stage 06), bf16', \
     '' using 1:9 with linespoints title 'ours: SSD v2 (stage 07), bf16'
set title 'forward + backward'
set autoscale y
plot outdir.'/bench_gpu_fwdbwd.dat' using 1:2 with linespoints title 'ours: mLSTM chunkwise, fp32', \
     '' using 1:3 with linespoints title 'ours: mLSTM chunkwise, bf16 tensor cores', \
     '' using 1:4 with linespoints title 'PyTorch chunkwise mLSTM, fp32', \
     '' using 1:5 with linespoints title 'SDPA causal, fp32', \
     '' using 1:6 with linespoints title 'SDPA causal, bf16 (FlashAttention)', \
     '' using 1:7 with linespoints title 'ours: Mamba-1 scan v6, fp32', \
     '' using 1:8 with linespoints title 'ours: Mamba-1 scan v6, bf16', \
     '' using 1:9 with linespoints title 'ours: SSD v2, bf16'
set title 'chunk size (L = 16 384)'
set xlabel 'chunk'
set logscale x 2
unset logscale y
set yrange [0:*]
plot outdir.'/bench_gpu_chunk.dat' using 1:2 with linespoints title 'forward, fp32', \
     '' using 1:3 with linespoints title 'forward, bf16 tensor cores', \
     '' using 1:4 with linespoints title 'backward, fp32', \
     '' using 1:5 with linespoints title 'backward, bf16 tensor cores'
unset multiplot
