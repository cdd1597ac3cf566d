/* 06_hw_aware_cuda/lm/corpus.h — token files (llm.c's format) and the fortunes corpus.
 *
 * A token file: a header of 256 little-endian int32 — [0] = 20240520 (magic), [1] = 1
 * (version: uint16 tokens), [2] = number of tokens, the rest 0 — then the tokens as
 * little-endian uint16. The same files llm.c's dataloader reads. */
#ifndef LM_CORPUS_H
#define LM_CORPUS_H

#include <stddef.h>
#include <stdint.h>

#define CORPUS_MAGIC 20240520
#define CORPUS_VERSION 1
#define CORPUS_HEADER_INTS 256

/* Write tokens atomically (temp file, rename). Returns 0, or −1 with err filled. */
int corpus_write_tokens(const char *path, const uint16_t *tok, size_t n, char *err, size_t errcap);
/* Read a token file; returns malloc'd tokens and *n, or NULL with err naming the file and
 * the problem (bad magic, version, size not matching the header). */
uint16_t *corpus_read_tokens(const char *path, size_t *n, char *err, size_t errcap);

/* The corpus split (deterministic): a fortune file holds documents separated by lines
 * "%"; document k of the whole sequence (files in the order given) goes to validation
 * when k % CORPUS_VAL_EVERY == 0, else to training. Each document is written as
 * "<|endoftext|>" + its text, as llm.c prefixes every document with the EOT token. */
#define CORPUS_VAL_EVERY 20

/* Split the fortune files into train_path and val_path (text). Returns the number of
 * documents, or −1 with err filled. */
long corpus_split_fortunes(char *const *files, int n_files, const char *train_path,
                           const char *val_path, long *n_val, char *err, size_t errcap);

/* Read a whole file; NULL with err on failure. */
char *corpus_read_file(const char *path, size_t *len, char *err, size_t errcap);
/* Write a whole file atomically. */
int corpus_write_file(const char *path, const void *p, size_t n, char *err, size_t errcap);

#endif
