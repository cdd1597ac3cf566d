# resolution: one continuous system sampled by ZOH at several dt
load root.'/common/plot.gp'
set title 'One system, several {/Symbol D}: the samples lie on the same curve (spring, unit step)'
set xlabel 'time t (s)'
set ylabel 'output y'
set key bottom right
plot outdir.'/resolution_cont.dat' using 1:2 with lines ls 8 title 'continuous', \
     outdir.'/resolution_disc.dat' index 0 using 1:2 with points pt 7 ps 0.6 title '{/Symbol D} = 0.1', \
     '' index 1 using 1:2 with points pt 5 ps 0.9 title '{/Symbol D} = 0.25', \
     '' index 2 using 1:2 with points pt 9 ps 1.3 title '{/Symbol D} = 0.5', \
     '' index 3 using 1:2 with points pt 13 ps 1.8 title '{/Symbol D} = 1'
