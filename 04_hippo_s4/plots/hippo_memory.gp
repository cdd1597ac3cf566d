load root.'/common/plot.gp'
set title 'What is remembered at t = 1 (N = 64): LegS everywhere, LegT only its window'
set xlabel 'time s of the past signal'
set ylabel '|f(s) - reconstruction(s)|'
set logscale y
set format y '10^{%L}'
set datafile missing 'nan'
set key top left
f = outdir.'/hippo_memory.dat'
plot f u 1:2 w l ls 1 t 'LegS: uniform over [0, 1]', \
     f u 1:3 w l ls 2 t 'LegT: window [0.75, 1] (nothing before)'
