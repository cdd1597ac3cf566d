load root.'/common/plot.gp'
set title 'mLSTM forward on an NVIDIA H200 (batch 2 x 8 heads, d = 64) against causal attention'
set xlabel 'sequence length L'
set ylabel 'kernel time (ms)'
set logscale xy
set key top left
plot outdir.'/bench_gpu.dat' using 1:2 with linespoints title 'mLSTM parallel (8.9), naive, fp32', \
     '' using 1:3 with linespoints title 'mLSTM chunkwise (8.10)-(8.11), c = 64, fp32', \
     '' using 1:4 with linespoints title 'PyTorch SDPA causal, fp32', \
     '' using 1:5 with linespoints title 'PyTorch SDPA causal, bf16 (FlashAttention)'
