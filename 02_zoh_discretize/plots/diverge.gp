# diverge: the step response of forward Euler just below and just above 2/|lambda|
load root.'/common/plot.gp'
set multiplot layout 1,2 title 'Forward Euler step response at 0.9 and 1.1 times 2/|{/Symbol l}|_{max}'
set xlabel 'step k'
set ylabel 'output y_k'
set key top left font ',9'
do for [sys in 'spring stiff'] {
    f = outdir.'/diverge_'.sys.'.dat'
    set title (sys eq 'spring' ? 'overdamped spring' : 'stiff spring')
    plot f using 1:2 with linespoints pt 7 ps 0.5 title 'forward Euler, 0.9×', \
         '' using 1:3 with linespoints pt 5 ps 0.5 title 'forward Euler, 1.1×', \
         '' using 1:4 with lines lw 3 title 'ZOH, 1.1×'
}
unset multiplot
