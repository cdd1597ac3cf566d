# Eigenvalues of A in the complex plane; the shaded half-plane Re λ < 0 is stable.
load root.'/common/plot.gp'
load outdir.'/eigenvalues.vars'
set xlabel 'Re λ (1/s)'
set ylabel 'Im λ (rad/s)'
set title 'Eigenvalues of A: stable iff every Re λ < 0 (shaded)'
set xzeroaxis lt -1
set yzeroaxis lt -1 lw 2
set object 1 rect from graph 0, graph 0 to first 0, graph 1 fc rgb '#e3f2e3' fs solid 1.0 noborder behind

set xrange [xlo:xhi]
set yrange [-yhi:yhi]
set key outside right
plot for [i=1:nsys] outdir.'/eigenvalues.dat' index (i-1) using 1:2 with points pt (4+2*i) ps 2 lw 2 lc i title word(sysnames, i)
