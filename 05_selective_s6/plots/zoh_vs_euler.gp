load root.'/common/plot.gp'
set title 'Euler B̄ = ΔB (Mamba) against exact ZOH B̄ = (e^{ΔA}-1)/A·B'
set xlabel 'step Δ'
set ylabel 'max |y_{Euler} - y_{ZOH}| / max |y_{ZOH}|'
set logscale xy
set format y '10^{%T}'
plot outdir.'/zoh_vs_euler.dat' using 1:2 with linespoints title 'relative difference of the scan outputs (A = -(1..16))', \
     '' using 1:($1*0.5) with lines dt 2 title 'Δ/2 (first-order term)'
