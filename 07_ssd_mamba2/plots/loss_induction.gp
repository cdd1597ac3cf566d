# loss_induction: training loss of Mamba-2 at three state sizes and Mamba-1 (stage 05)
load root.'/common/plot.gp'
set title 'Training on induction heads: loss per step'
set xlabel 'step'
set ylabel 'cross-entropy (nats)'
set logscale y
set format y '10^{%L}'
set key right top
plot outdir.'/loss_induction.dat' using 1:2 with lines title 'Mamba-2, N = 16', \
     '' using 1:3 with lines title 'Mamba-2, N = 64', \
     '' using 1:4 with lines title 'Mamba-2, N = 128', \
     '' using 1:5 with lines title 'Mamba-1, N = 16'
