# 06_hw_aware_cuda/lm/plots/decode_per_token.gp — time per generated token against the position
# (batch 1, 130m shape, random weights, NVIDIA H200): ours (bf16 weights; step v3, the one-kernel
# step, and/or v1, the CUDA graph of six kernels a layer) and transformers' generate (pure-PyTorch
# path, its cache; float32 and bfloat16; "transformers-alone": measured with nothing else on the GPU),
# from a per-position CSV (impl,dtype,batch,position,ms).
#   gnuplot -e "in='results/decode_positions_h200.csv'; out='results/decode_per_token_h200.png'" plots/decode_per_token.gp
if (!exists("in")) in = 'results/decode_positions_h200.csv'
if (!exists("out")) out = 'results/decode_per_token_h200.png'
set terminal pngcairo size 900,520 font ",11"
set output out
set datafile separator ","
set logscale xy
set xlabel "position in the sequence (tokens)"
set ylabel "time per token (ms)"
set title "Decode, batch 1, Mamba 130m shape, NVIDIA H200: time per token is flat in the position"
set key top right
set grid
set yrange [0.05:100]
sel(impl, dt) = (strcol(1) eq impl && strcol(2) eq dt)
plot in using (sel("ours-v3", "bf16") ? $4 : 1/0):5 with linespoints pt 7 ps 0.5 title "ours, step v3 (one kernel), bf16 weights: mean over 256 positions", \
     in using (sel("ours", "bf16") ? $4 : 1/0):5 with linespoints pt 6 ps 0.5 title "ours, step v1 (CUDA graph), bf16 weights", \
     in using (sel("transformers", "fp32") ? $4 : 1/0):5 with linespoints pt 5 ps 0.5 title "transformers generate, float32, each step (GPU shared)", \
     in using (sel("transformers", "bf16") ? $4 : 1/0):5 with linespoints pt 4 ps 0.5 title "transformers generate, bfloat16, each step (GPU shared)", \
     in using (sel("transformers-alone", "fp32") ? $4 : 1/0):5 with points pt 9 ps 0.8 lc rgb "#d62728" title "transformers generate, float32, GPU alone", \
     in using (sel("transformers-alone", "bf16") ? $4 : 1/0):5 with points pt 8 ps 0.8 lc rgb "#2ca02c" title "transformers generate, bfloat16, GPU alone"
