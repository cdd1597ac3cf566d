# tasks_loss: training loss of the synthetic tasks on the GPU model (§6.23), per variant: the
# mean over each logged interval (data: the --log TSVs of lm --task: step, loss, accuracy, ms):
# the paper's protocols, and stage 05's induction curriculum
load root.'/common/plot.gp'
if (ext eq 'svg') {   # three panels side by side: wider than the book's default
    set terminal svg size 1350,500 dynamic enhanced font 'Sans,12' background rgb 'white'
} else {
    set terminal pngcairo size 1350,500 enhanced font 'Sans,11'
}
set multiplot layout 1,3 title 'Synthetic tasks on the GPU model: training loss (one H200)'
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
set title 'induction heads (L = 256, batch 8; steps on a log scale)'
set logscale x
set format x '10^{%L}'
plot data.'/induction_s6.tsv' using 1:2 skip 1 with lines ls 1 title 'S6', \
     data.'/induction_lti.tsv' using 1:2 skip 1 with lines ls 2 title 'LTI', \
     data.'/induction_nogate.tsv' using 1:2 skip 1 with lines ls 3 title 'S6, no gate', \
     log(14) with lines dt 2 lc rgb '#999999' title 'ln 14'
unset logscale x
set format x '%.0s%c'
set title "stage 05's curriculum (L = 64, then 256 from step 3000)"
plot data.'/curriculum_s6.tsv' using 1:2 skip 1 with lines ls 1 title 'S6', \
     data.'/curriculum_lti.tsv' using 1:2 skip 1 with lines ls 2 title 'LTI', \
     data.'/curriculum_nogate.tsv' using 1:2 skip 1 with lines ls 3 title 'S6, no gate', \
     log(14) with lines dt 2 lc rgb '#999999' title 'ln 14'
unset multiplot
