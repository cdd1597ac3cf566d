# crossover: the chunked algorithm's time against its chunk size Q, from the scan's
# end (Q = 1) to the quadratic form's (Q = L)
load root.'/common/plot.gp'
set title 'Chunk size Q of the chunked algorithm (float64, L = 2048, N = 64, H = 2, P = 16)'
set xlabel 'chunk size Q'
set ylabel 'time (s, fastest of >= 3 runs, one core)'
set logscale x 2
set logscale y
set format x '2^{%L}'
set format y '10^{%L}'
set key left top
plot outdir.'/crossover.dat' using 1:2 with linespoints title 'chunked (7.6-7.9)', \
     '' using 1:3 with lines dt 2 title 'scan (7.2-7.3)'
