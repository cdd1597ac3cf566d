# cost_N: time of the three forms against the state size N at L = 1024
load root.'/common/plot.gp'
set title 'SSD forms on the CPU against state size (float64, L = 1024, H = 2, P = 16)'
set xlabel 'state size N'
set ylabel 'time (s, fastest of >= 3 runs, one core)'
set logscale x 2
set logscale y
set format x '2^{%L}'
set format y '10^{%L}'
set key left top
plot outdir.'/cost_N.dat' using 1:2 with linespoints title 'scan', \
     '' using 1:3 with linespoints title 'quadratic', \
     '' using 1:4 with linespoints title 'chunked, Q = 64'
