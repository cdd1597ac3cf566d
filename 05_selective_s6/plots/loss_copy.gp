load root.'/common/plot.gp'
set title 'Selective copying: training loss (same budget and seed)'
set xlabel 'training step'
set ylabel 'cross-entropy on the copied tokens (nats)'
set logscale y
plot outdir.'/loss_copy.dat' using 1:2 with lines title 'S6 (Mamba)', \
     '' using 1:3 with lines title 'LTI (S4D in the Mamba block)', \
     '' using 1:4 with lines title 'S6 without the SiLU(z) gate'
