load root.'/common/plot.gp'
set title 'sLSTM, one unit, exponential gates at |pre-activation| = 80: log n_t'
set xlabel 'step t'
set ylabel 'log n_t (natural log)'
set key top left
set arrow from graph 0, first 88.72 to graph 1, first 88.72 nohead dashtype 3 lc rgb '#555555'
set label 'float32 overflows above log(3.4e38) = 88.7' at graph 0.45, first 200 tc rgb '#555555'
plot outdir.'/stabilizer.dat' using 1:2 with linespoints title 'unstabilized (8.4): n_t itself (ends at overflow)', \
     '' using 1:3 with lines title 'stabilized (8.6): m_t + log n̄_t', \
     '' using 1:4 with lines dashtype 2 title 'stabilizer m_t'
