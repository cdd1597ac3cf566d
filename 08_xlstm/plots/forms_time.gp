load root.'/common/plot.gp'
set title 'mLSTM, one head, d = 64: time of the three forms (CPU)'
set xlabel 'sequence length L'
set ylabel 'time (ms)'
set logscale xy
set key top left
plot outdir.'/forms_time.dat' using 1:2 with linespoints title 'recurrent (8.8): O(L d^2)', \
     '' using 1:3 with linespoints title 'parallel (8.9): O(L^2 d)', \
     '' using 1:4 with linespoints title 'chunkwise (8.10), chunk 64: O(L c d + L d^2)'
