load root.'/common/plot.gp'
set title 'CPU demo: a 0.76M-parameter Mamba on the fortunes corpus (4096-token BPE)'
set xlabel 'step (batch 8 x 64 tokens)'
set ylabel 'cross-entropy (nats per token)'
plot outdir.'/demo_train.dat' using 1:2 with lines title 'training batch', \
     outdir.'/demo_val.dat' using 1:2 with linespoints title 'validation', \
     '' using 1:3 with lines dt 2 title 'unigram baseline (validation)'
