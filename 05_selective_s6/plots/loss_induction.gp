load root.'/common/plot.gp'
# variants.dat (main.c): which variants this run trained; an untrained one has no curve and
# no key entry (an empty title leaves it out of the key)
stats outdir.'/variants.dat' using 1 nooutput
u1 = STATS_max
stats outdir.'/variants.dat' using 2 nooutput
u2 = STATS_max
stats outdir.'/variants.dat' using 3 nooutput
u3 = STATS_max
# Induction heads: the warm-up at a short length (a curriculum, left of the dashed line)
# and then training at L (right). Per-step loss (8 sequences, one scored token each)
# light; bold: a moving average of log(loss) over ~1/a steps (weight a), so one spike
# does not hide the trend. Log axis: the drop is from the plateau ln(V-2) to ~1e-6.
stats outdir.'/loss_induction_phases.dat' using 1 nooutput
W = STATS_max
stats outdir.'/loss_induction_phases.dat' using 2 nooutput
WL = STATS_max
stats outdir.'/loss_induction_phases.dat' using 3 nooutput
L = STATS_max
stats outdir.'/loss_induction_phases.dat' using 4 nooutput
V = STATS_max
plateau = log(V - 2)                  # the marginal over the V-2 value tokens
stats outdir.'/loss_induction.dat' using 1 nooutput
a = STATS_max <= 1000 ? 0.1 : 0.05   # the average's weight: ~10 steps for a short run, ~20 for a long one
lg(x) = log(x > 1e-9 ? x : 1e-9)
ema(x, prev, first) = first ? lg(x) : prev + a * (lg(x) - prev)
set title (W > 0 ? sprintf('Induction heads: training loss, %d warm-up steps at L = %d, then L = %d', W, WL, L) \
                 : sprintf('Induction heads: training loss at L = %d', L))
set xlabel 'training step (both phases)'
set ylabel 'cross-entropy at the last position (nats)'
set logscale y
set format y '%g'
set yrange [1e-8<*:1000]               # autoscaled down to 1e-8 (float32 loss 0), room above for the key
set key top right opaque   # above the plateau: the axis leaves room up to 1e3
if (W > 0) {
    set arrow from first W, graph 0 to first W, graph 1 nohead dt 2 lc rgb '#555555' lw 1.5 front
    set label sprintf('warm-up, L = %d', WL) at first W, graph 0.8 right offset -1, 0 front
    set label sprintf('L = %d', L) at first W, graph 0.8 left offset 1, 0 front
}
plot plateau with lines dt 3 lc rgb '#333333' lw 2 title sprintf('plateau ln %d = %.2f (before induction forms)', V - 2, plateau), \
     outdir.'/loss_induction.dat' using 1:2 with lines lc rgb '#a9c9e8' lw 1 notitle, \
     '' using 1:4 with lines lc rgb '#b3dcae' lw 1 notitle, \
     '' using 1:3 with lines lc rgb '#f1b0b0' lw 1 notitle, \
     '' using 1:(e1 = ema($2, $0 == 0 ? 0 : e1, $0 == 0), exp(e1)) with lines ls 1 lw 3 title (u1 > 0.5 ? 'S6 (Mamba)' : ''), \
     '' using 1:(e3 = ema($4, $0 == 0 ? 0 : e3, $0 == 0), exp(e3)) with lines ls 3 lw 3 title (u3 > 0.5 ? 'S6, no SiLU(z) gate' : ''), \
     '' using 1:(e2 = ema($3, $0 == 0 ? 0 : e2, $0 == 0), exp(e2)) with lines ls 2 lw 3 dt (10, 6) title (u2 > 0.5 ? 'LTI (S4D in the block), dashed' : '')
