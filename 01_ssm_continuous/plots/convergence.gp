# Max error against step size on log-log axes, with the fitted slopes (the orders).
load root.'/common/plot.gp'
load outdir.'/convergence.vars'
set logscale xy
set format x '10^{%L}'
set format y '10^{%L}'
set xlabel 'step size h (s)   [RK45 at rtol 1e-3, 1e-6, 1e-9: T / accepted steps]'
set ylabel 'max |h(t) - h_{exact}(t)|'
set title 'Error against step size: Euler slope ≈ 1, RK4 slope ≈ 4'
set key outside right title 'fitted slope' box
plot for [i=1:nsys] outdir.'/convergence.dat' index (3*(i-1)) using 1:2 with linespoints lc i dt 1 pt 7 lw 2 \
         title sprintf('%s Euler: %s', word(sysnames, i), word(slopes, 3*i-2)), \
     for [i=1:nsys] outdir.'/convergence.dat' index (3*(i-1)+1) using 1:2 with linespoints lc i dt 2 pt 5 lw 2 \
         title sprintf('%s RK4: %s', word(sysnames, i), word(slopes, 3*i-1)), \
     for [i=1:nsys] outdir.'/convergence.dat' index (3*(i-1)+2) using 1:2 with linespoints lc i dt 3 pt 9 lw 2 \
         title sprintf('%s RK45: %s', word(sysnames, i), word(slopes, 3*i))
