# cost_L: time of the three forms against L (float64, N = 64), with the slopes 1 and 2
load root.'/common/plot.gp'
set title 'SSD forms on the CPU against sequence length (float64, H = 2, P = 16, N = 64)'
set xlabel 'sequence length L'
set ylabel 'time (s, fastest of >= 3 runs, one core)'
set logscale x 2
set logscale y
set format x '2^{%L}'
set format y '10^{%L}'
set key left top
plot outdir.'/cost_L.dat' using 1:2 with linespoints title 'scan (7.2-7.3)', \
     '' using 1:3 with linespoints title 'quadratic, M materialized (7.4)', \
     '' using 1:4 with linespoints title 'chunked, Q = 64 (7.6-7.9)', \
     '' using 1:(($1/1024.0)**2*0.2) with lines dt 3 lc rgb 'black' title 'slope 2', \
     '' using 1:($1/1024.0*0.0013) with lines dt 4 lc rgb 'gray40' title 'slope 1'
