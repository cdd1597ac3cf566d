load root.'/common/plot.gp'
# Two panels. Top: the kernel where it is not negligible — the naive kernel (powers of Ā)
# wide and pale, S4's thin and dark on top, so both show where they agree (everywhere).
# Bottom: their difference on a log axis over every lag, against the rounding level
# ε·max|K| (ε = 2^-52): the agreement is to a few hundred roundings at most, not "by eye".
f = outdir.'/s4_kernel.dat'
stats f using 1 nooutput
L = STATS_max + 1
stats f using (abs($3)) nooutput
Kmax = STATS_max
jend = 0
stats f using ((abs($3) > 1e-3 * Kmax) ? (jend = $1) : 0) nooutput   # last lag with |K| > 1e-3 max
eps = 2.0**-52
set multiplot layout 2, 1 title 'S4 kernel (NPLR + Cauchy + Woodbury + iFFT) against the naive kernel (powers of Ā)'
set lmargin 12
set size 1, 0.62
set origin 0, 0.36
set xlabel sprintf('lag j (steps; 0 … %d shown, where |K| > 10^{-3} max|K|)', jend)
set ylabel 'K_j'
set xrange [0:jend * 1.05 + 1]
set key top right
plot f u 1:3 w l lc rgb '#9ecae1' lw 7 t 'naive (stage 03): powers of Ā', \
     f u 1:2 w l lc rgb '#08306b' lw 1.5 t 'S4 (this stage)'
set size 1, 0.36
set origin 0, 0
set title ''
set xlabel sprintf('lag j (all %d)', L)
set ylabel '|K_{S4} - K_{naive}|'
set logscale y
set format y '10^{%L}'
set xrange [0:L]
set yrange [*:1e-12]
set key top right
plot f u 1:($4 > 0 ? $4 : 1/0) w l ls 8 lw 1 t '|difference|', \
     eps * Kmax w l ls 2 dt 2 lw 2 t 'ε·max|K|: one rounding of the largest value'
unset multiplot
