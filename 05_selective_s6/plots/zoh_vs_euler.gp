load root.'/common/plot.gp'
# Euler's B̄ = ΔB against ZOH's B̄ = (e^{ΔA}-1)/A·B: per state they differ by the factor
# ΔA/(e^{ΔA}-1) = 1 + Δ|A|/2 + O((ΔA)^2) (A < 0), so the relative gap of state n is
# Δ|A_n|/2 to first order (chapter 5). The experiment's states have |A| = 1 ... 16
# (S4D-Real), so the output's gap lies between the first-order terms of |A| = 1 and
# |A| = 16: measured ~3Δ, a weighted mix. (For Δ|A| >> 1 ZOH's B̄ saturates at B/|A|
# while Euler's ΔB keeps growing, so the gap stays ~linear in Δ.) The old reference line,
# labelled Δ/2, was only the |A| = 1 case: the data sat ~6x above it.
set title 'Euler B̄ = ΔB (Mamba) against exact ZOH B̄ = (e^{ΔA}-1)/A·B, A = -(1..16)'
set xlabel 'step Δ'
set ylabel 'max |y_{Euler} - y_{ZOH}| / max |y_{ZOH}|'
set logscale xy
set format y '10^{%T}'
set format x '10^{%T}'
set key top left
plot outdir.'/zoh_vs_euler.dat' using 1:2 with linespoints ls 1 pt 7 title 'measured: relative difference of the scan outputs', \
     '' using 1:($1*16/2) with lines ls 2 dt 2 title 'Δ|A|/2 for |A| = 16 (first order, fastest state)', \
     '' using 1:($1*1/2) with lines ls 3 dt 2 title 'Δ|A|/2 for |A| = 1 (first order, slowest state)'
