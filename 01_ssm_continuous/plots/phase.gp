# Phase portrait (h1, h2) = (position, velocity) from h(0) = (1, 0).
load root.'/common/plot.gp'
load outdir.'/phase.vars'
set xlabel 'h_1 = q (position, m)'
set ylabel "h_2 = q' (velocity, m/s)"
set title sprintf('Phase portrait of %s: exact, Euler and RK4 at dt = %g', sysname, dt)
set size ratio -1
set key outside right
plot outdir.'/phase.dat' index 0 using 1:2 with lines ls 8 lw 3 title 'exact', \
     outdir.'/phase.dat' index 1 using 1:2 with lines ls 2 lw 1 title 'Euler', \
     outdir.'/phase.dat' index 2 using 1:2 with points ls 1 pt 6 ps 0.5 title 'RK4', \
     '+' using (1):(0) every ::0::0 with points pt 7 ps 1.5 lc rgb 'black' title 'h(0)'
