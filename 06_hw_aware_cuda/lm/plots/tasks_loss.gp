# tasks_loss: training loss of the synthetic tasks on the GPU model (§6.23), per variant: the
# mean over each logged interval (data: the --log TSVs of lm --task: step, loss, accuracy, ms)
load root.'/common/plot.gp'
set multiplot layout 1,2 title 'Synthetic tasks on the GPU model: training loss (one H200)'
set xlabel 'step'
set ylabel 'cross-entropy (scored positions)'
set yrange [0:3]
set format x '%.0s%c'
set key top right
set title 'selective copying (L = 4096 + 16, batch 64)'
plot data.'/copy_s6.tsv' using 1:2 skip 1 with lines ls 1 title 'S6', \
     data.'/copy_lti.tsv' using 1:2 skip 1 with lines ls 2 title 'LTI', \
     data.'/copy_nogate.tsv' using 1:2 skip 1 with lines ls 3 title 'S6, no gate', \
     log(14) with lines dt 2 lc rgb '#999999' title 'ln 14'
set title 'induction heads (L = 256, batch 8)'
plot data.'/induction_s6.tsv' using 1:2 skip 1 with lines ls 1 title 'S6', \
     data.'/induction_lti.tsv' using 1:2 skip 1 with lines ls 2 title 'LTI', \
     data.'/induction_nogate.tsv' using 1:2 skip 1 with lines ls 3 title 'S6, no gate', \
     log(14) with lines dt 2 lc rgb '#999999' title 'ln 14'
unset multiplot
