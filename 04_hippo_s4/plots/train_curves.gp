load root.'/common/plot.gp'
set title 'Deep S4D on the delay task: training loss by initialization'
set xlabel 'training step'
set ylabel 'training loss / loss of predicting 0'
set logscale y
set key bottom left
files = system('ls '.outdir.'/train_curve_*.dat')
label(f) = f[strstrt(f, 'train_curve_') + 12:strlen(f) - 4]
plot for [i=1:words(files)] word(files, i) u 1:2 w l ls i t label(word(files, i))
