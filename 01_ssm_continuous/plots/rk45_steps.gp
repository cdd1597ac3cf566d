# The step sizes RK45 chose: small where the solution changes fast, large where it is flat.
load root.'/common/plot.gp'
load outdir.'/rk45_steps.vars'
set logscale y
set format y '10^{%L}'
set xlabel 't (s)'
set ylabel 'accepted step h (s)'
set title sprintf('RK45 step sizes at rtol = %g (input: %s)', rtol, input)
set key outside right
plot for [i=1:nsys] outdir.'/rk45_steps.dat' index (i-1) using 1:2 with steps lw 2 lc i title word(sysnames, i)
