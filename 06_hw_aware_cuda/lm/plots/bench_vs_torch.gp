# bench_vs_torch: training tokens/s and device memory of our GPU model against the PyTorch
# baselines measured in the same run, at the 130m shape (results/lm/bench_vs_torch.dat,
# written by reference/bench_compare.py; nan = no number: out of memory or over the cap)
load root.'/common/plot.gp'
set datafile missing 'nan'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set xtics rotate by 30 right nomirror
set key below
f = data.'/bench_vs_torch.dat'
set multiplot layout 1,2 title 'Mamba 130m training step on one H200: ours vs PyTorch, same run'
set ylabel 'tokens / s'
set format y '%.0s%c'
set yrange [0:*]
plot f using 2:xtic(1) ls 1 title 'ours (C/CUDA)', \
     '' using 3 ls 2 title '(b) torch + official scan', \
     '' using 4 ls 3 title '(a) transformers pure torch'
set ylabel 'device memory in use (GiB)'
set format y '%g'
plot f using 5:xtic(1) ls 1 title 'ours', \
     '' using 6 ls 2 title '(b)', \
     '' using 7 ls 3 title '(a)'
unset multiplot
