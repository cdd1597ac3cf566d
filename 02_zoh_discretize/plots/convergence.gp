# convergence: error against the continuous solution versus dt, log-log, with reference slopes
load root.'/common/plot.gp'
set title 'Error versus {/Symbol D} (spring, x(t) = sin t sampled and held)'
set xlabel 'step {/Symbol D} (s)'
set ylabel 'max relative error of y_k'
set logscale xy
set format y '10^{%L}'
set format x '10^{%L}'
set key left center
set yrange [1e-15:1]
plot outdir.'/convergence.dat' using 1:2 with linespoints pt 7 title 'ZOH (floor: the reference, RK45 rtol 1e-13)', \
     '' using 1:3 with linespoints pt 5 title 'bilinear', \
     '' using 1:4 with linespoints pt 9 title 'forward Euler', \
     '' using 1:5 with linespoints pt 11 title 'backward Euler', \
     '' using 1:6 with linespoints pt 13 title 'Mamba pair', \
     '' using 1:7 with linespoints pt 6 dt 2 title 'ZOH against the smooth x(t) (the hold)', \
     '' using 1:(0.4*$1**2) with lines dt 3 lc rgb 'black' title 'slope 2', \
     '' using 1:(1.5*$1) with lines dt 4 lc rgb 'gray40' title 'slope 1'
