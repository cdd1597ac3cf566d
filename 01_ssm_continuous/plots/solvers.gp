# Each solver against the exact response y(t), one panel per system.
load root.'/common/plot.gp'
load outdir.'/solvers.vars'
set terminal push
if (ext eq 'svg') { set terminal svg size 900,300*nsys+60 dynamic enhanced font 'Sans,12' background rgb 'white' } \
else { set terminal pngcairo size 900,300*nsys+60 enhanced font 'Sans,11' }
set output outdir.'/'.name.'.'.ext
set multiplot layout nsys,1 title sprintf("Solvers against the exact response (input: %s; Euler, RK4 at dt = %g; RK45 at rtol = %g)", input, dt, rtol)
set xlabel 't (s)'
set ylabel 'y(t)'
set key outside right
do for [i=1:nsys] {
    set title word(sysnames, i)
    plot outdir.'/solvers_exact.dat' index (i-1) using 1:2 with lines ls 8 lw 3 title 'exact (e^{At})', \
         outdir.'/solvers_fixed.dat' index (i-1) using 1:2 with linespoints ls 2 pt 7 ps 0.4 lw 1 title 'Euler', \
         outdir.'/solvers_fixed.dat' index (i-1) using 1:3 with points ls 1 pt 6 ps 0.6 title 'RK4', \
         outdir.'/solvers_rk45.dat' index (i-1) using 1:2 with points ls 3 pt 9 ps 0.9 title 'RK45 steps'
}
unset multiplot
