load root.'/common/plot.gp'
# variants.dat (main.c): which variants this run trained; an untrained one has no curve and
# no key entry (an empty title leaves it out of the key)
stats outdir.'/variants.dat' using 1 nooutput
u1 = STATS_max
stats outdir.'/variants.dat' using 2 nooutput
u2 = STATS_max
stats outdir.'/variants.dat' using 3 nooutput
u3 = STATS_max
# Selective copying: the per-step loss (one batch) is noisy, so it is drawn light and an
# exponential moving average (weight a per step, ~1/a steps) is drawn bold on top.
# Linear axis: the point is which curves leave the chance line, and how far.
stats outdir.'/loss_copy_task.dat' using 1 nooutput
M = STATS_max
chance = log(M)                       # a uniform guess over the M colours: ln M nats per token
stats outdir.'/loss_copy.dat' using 1 nooutput
a = STATS_max <= 1000 ? 0.1 : 0.05   # the average's weight: ~10 steps for a short run, ~20 for a long one
set title 'Selective copying: training loss (same init, data and budget for each variant)'
set xlabel 'training step'
set ylabel 'cross-entropy on the copied tokens (nats)'
set key top right opaque   # the top right stays empty: the curves start at or below chance and fall
set offsets 0, 0, graph 0.08, 0
set yrange [0<*:*]                   # autoscaled, never below 0
ema(x, prev, first) = first ? x : prev + a * (x - prev)
plot chance with lines dt 3 lc rgb '#333333' lw 2 title sprintf('chance: ln %d = %.2f (a guess among %d colours)', M, chance, M), \
     outdir.'/loss_copy.dat' using 1:2 with lines lc rgb '#a9c9e8' lw 1 notitle, \
     '' using 1:4 with lines lc rgb '#b3dcae' lw 1 notitle, \
     '' using 1:3 with lines lc rgb '#f1b0b0' lw 1 notitle, \
     '' using 1:(e1 = ema($2, $0 == 0 ? 0 : e1, $0 == 0)) with lines ls 1 lw 3 title (u1 > 0.5 ? 'S6 (Mamba)' : ''), \
     '' using 1:(e3 = ema($4, $0 == 0 ? 0 : e3, $0 == 0)) with lines ls 3 lw 3 title (u3 > 0.5 ? 'S6, no SiLU(z) gate' : ''), \
     '' using 1:(e2 = ema($3, $0 == 0 ? 0 : e2, $0 == 0)) with lines ls 2 lw 3 dt (10, 6) title (u2 > 0.5 ? 'LTI (S4D in the block), dashed' : '')
