load root.'/common/plot.gp'
set title 'Byte-level LM at equal parameter count: validation loss against training time'
set xlabel 'training time (CPU-seconds of the process, all threads)'
set ylabel 'validation cross-entropy (nats/byte)'
plot outdir.'/lm_val.dat' index 0 using 1:2 with linespoints title 'xLSTM[1:0]', \
     '' index 1 using 1:2 with linespoints title 'xLSTM[7:1]', \
     '' index 2 using 1:2 with linespoints title 'Mamba (stage 05)', \
     '' index 3 using 1:2 with linespoints title 'Mamba-2 (stage 07)'
