# corpus_demo_gpu_loss: make demo-text-gpu's training and validation loss (outdir/text_gpu_loss.tsv, lm
# --train's log: step, loss, val_loss, …; val_loss nan between evaluations) against the unigram
# baseline of the same validation split (unigram, nats/token, from corpus_demo --unigram)
load root.'/common/plot.gp'
set datafile missing 'nan'
set datafile separator tab
set title 'GPU demo: Mamba 8 x 512 (15.7M parameters) on the fortunes corpus, BPE-4096'
set xlabel 'optimizer step (16 x 256 tokens)'
set ylabel 'cross-entropy (nats/token)'
set key top right
plot outdir.'/text_gpu_loss.tsv' using 1:2 every ::1 with lines ls 1 lw 1 title 'training batch', \
     '' using 1:3 every ::1 with linespoints ls 2 pt 7 title 'validation', \
     unigram with lines ls 8 dt 2 title sprintf('unigram baseline (validation split): %.3f', unigram)
