load root.'/common/plot.gp'
set title 'S4 kernel (NPLR + Cauchy + Woodbury + iFFT) against the naive kernel (powers of Ā)'
set xlabel 'lag j (steps)'
set ylabel 'K_j'
set y2label '|K_{S4} - K_{naive}|'
set logscale y2
set format y2 '10^{%L}'
set ytics nomirror
set y2tics
set key top right
f = outdir.'/s4_kernel.dat'
plot f u 1:3 w l ls 1 lw 4 t 'naive (stage 03)', \
     f u 1:2 w l ls 2 t 'S4', \
     f u 1:($4 > 0 ? $4 : 1e-20) axes x1y2 w l ls 8 t '|difference| (right axis)'
