load root.'/common/plot.gp'
set title 'Eigenvalues λ_n of the S4D initializations (one of each conjugate pair)'
set xlabel 'Re λ'
set ylabel 'Im λ'
set logscale y 10
set format y '10^{%L}'
set key bottom left
f = outdir.'/s4d_eigs.dat'
plot f index 0 u 1:($2 > 0 ? $2 : 1e-1) w p ls 1 pt 7 ps 1.2 t 'S4D-LegS', \
     f index 1 u ($1 + 0.05):($2 > 0 ? $2 : 1e-1) w p ls 2 pt 5 t 'S4D-Lin (shifted +0.05)', \
     f index 2 u ($1 - 0.05):($2 > 0 ? $2 : 1e-1) w p ls 3 pt 9 t 'S4D-Inv (shifted -0.05)', \
     f index 3 u 1:($2 > 0 ? $2 : 1e-1) w p ls 4 pt 13 t 'S4D-Real (Im = 0 drawn at 0.1)', \
     f index 4 u 1:(abs($2) > 0 ? abs($2) : 1e-1) w p ls 5 pt 11 t 'random (|Im|)'
