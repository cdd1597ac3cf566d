load root.'/common/plot.gp'
set title 'Parity at L = 32: training loss (same data, seed and schedule)'
set xlabel 'training step'
set ylabel 'cross-entropy per position (nats; chance = log 2 = 0.69)'
plot outdir.'/loss_parity.dat' using 1:2 with lines title 'xLSTM[0:1] (sLSTM)', \
     '' using 1:3 with lines title 'xLSTM[1:0] (mLSTM)', \
     '' using 1:4 with lines title 'Mamba (stage 05)', \
     '' using 1:5 with lines title 'Mamba-2 (stage 07)'
