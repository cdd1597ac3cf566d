# stability: spectral radius of Abar versus dt for two systems; forward Euler crosses 1 at 2/|lambda|
load root.'/common/plot.gp'
set multiplot layout 1,2 title 'Spectral radius of Ā versus {/Symbol D} (stable iff < 1)'
set xlabel 'step {/Symbol D} (s)'
set ylabel 'max |eig(Ā)|'
set logscale x
set format x '10^{%L}'
set yrange [0:2]
set key bottom left font ',9'
do for [sys in 'spring stiff'] {
    f = outdir.'/stability_'.sys.'.dat'
    set title (sys eq 'spring' ? 'overdamped spring, {/Symbol l} = -1, -4' : 'stiff spring, {/Symbol l} = -1, -1000')
    stats f using 7 nooutput
    set arrow 1 from STATS_max, graph 0 to STATS_max, graph 1 nohead dt 2 lc rgb 'black'
    set label 1 '2/|{/Symbol l}|_{max}' at STATS_max, graph 0.93 offset 0.5,0
    plot f using 1:2 with lines title 'ZOH', '' using 1:3 with lines title 'bilinear', \
         '' using 1:4 with lines title 'forward Euler', '' using 1:5 with lines title 'backward Euler', \
         '' using 1:6 with lines dt 2 title 'Mamba (same Ā as ZOH)', \
         1 with lines dt 3 lc rgb 'black' notitle
}
unset multiplot
