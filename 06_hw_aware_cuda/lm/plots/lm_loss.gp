# lm_loss: training and validation loss of the GPU model, fp32 against bf16 matmuls, on the
# fortunes corpus (results/lm/train_{fp32,bf16}.tsv: step, loss, val_loss, ...)
load root.'/common/plot.gp'
set datafile missing 'nan'
set title 'Mamba LM on the H200: 8 layers x 512, 15.7M parameters, fortunes BPE-4096'
set xlabel 'optimizer step (16 x 256 tokens)'
set ylabel 'cross-entropy (nats/token)'
set key top right
f = data.'/train_fp32.tsv'
b = data.'/train_bf16.tsv'
plot f using 1:2 every ::1 with lines ls 1 lw 1 title 'train fp32', \
     b using 1:2 every ::1 with lines ls 2 lw 1 title 'train bf16', \
     f using 1:3 every ::1 with linespoints ls 1 pt 7 title 'val fp32', \
     b using 1:3 every ::1 with linespoints ls 2 pt 5 title 'val bf16'
