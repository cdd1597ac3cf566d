# exactness: the continuous output (stage 01, held input) and the discrete samples at the coarsest dt
load root.'/common/plot.gp'
set title 'ZOH is exact at the sample times; the approximations drift (coarsest {/Symbol D})'
set xlabel 'time t (s)'
set ylabel 'output y'
set key bottom left
plot outdir.'/exactness_cont.dat' using 1:2 with lines ls 8 title 'continuous (stage 01, input held)', \
     outdir.'/exactness_disc.dat' using 1:2 with points pt 7 ps 1.4 lc rgb '#1f77b4' title 'ZOH', \
     '' using 1:3 with points pt 5 ps 0.9 lc rgb '#2ca02c' title 'bilinear', \
     '' using 1:5 with points pt 9 ps 0.9 lc rgb '#9467bd' title 'backward Euler', \
     '' using 1:6 with points pt 13 ps 0.9 lc rgb '#ff7f0e' title 'Mamba (e^{{/Symbol D}A}, {/Symbol D}B)'
