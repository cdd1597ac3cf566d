load root.'/common/plot.gp'
set title 'Online function approximation: error against the number of coefficients N'
set xlabel 'N (Legendre coefficients)'
set ylabel 'relative RMS error of the reconstruction'
set logscale xy
set logscale x 2
set format y '10^{%L}'
set key top right
f = outdir.'/hippo_error.dat'
plot f u 1:2 w lp ls 1 t 'LegS, whole history [0, 1]', \
     f u 1:3 w lp ls 2 t 'LegT, window [0.75, 1]'
