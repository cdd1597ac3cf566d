# 06_hw_aware_cuda/lm/plots/decode_per_token.gp — time per generated token against the position
# (batch 1, 130m shape, random weights, NVIDIA H200): ours (bf16 weights, CUDA graph) and
# transformers' generate (float32, pure-PyTorch path, its cache), from results/decode_positions_h200.csv.
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
plot in using ((strcol(1) eq "ours") ? $4 : 1/0):5 with linespoints pt 7 ps 0.6 title "ours: prefill + CUDA-graph step (bf16 weights), mean over 256 positions", \
     in using ((strcol(1) eq "transformers") ? $4 : 1/0):5 with linespoints pt 5 ps 0.6 title "transformers generate (fp32, its cache), each step"
