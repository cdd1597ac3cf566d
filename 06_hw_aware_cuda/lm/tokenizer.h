/* 06_hw_aware_cuda/lm/tokenizer.h — byte-level BPE (GPT-2 / GPT-NeoX style), read from a
 * Hugging Face tokenizer.json, encode and decode as `tokenizers` does.
 *
 *   encode(text):  (T.1) invalid UTF-8 → U+FFFD (maximal subparts, as from_utf8_lossy)
 *                  (T.2) split out the added tokens (leftmost-longest; special tokens first)
 *                  (T.3) each remaining piece: optional prefix space, then the GPT-2 split
 *                        pattern (contractions, letters, numbers, other, whitespace runs)
 *                  (T.4) each pre-token's bytes → byte symbols (the 256 base tokens)
 *                  (T.5) BPE: apply the merges lowest rank first (a priority queue)
 *   decode(ids):   (T.6) token strings → bytes through the inverse byte↔char map;
 *                        the result is made valid UTF-8 again with U+FFFD.
 *
 * JSON is read with cJSON, the split pattern runs in PCRE2 (JIT, Unicode properties).
 * Loading never exits: it returns NULL and writes one line into err, so a fuzzer can
 * drive tokenizer_load_from_memory directly. */
#ifndef LM_TOKENIZER_H
#define LM_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

typedef struct tokenizer tokenizer;

/* A growable array of token ids. */
typedef struct {
    int32_t *ids;
    size_t n, cap;
} tok_ids;

/* A growable byte buffer. */
typedef struct {
    char *bytes;
    size_t n, cap;
} tok_bytes;

/* Parse a tokenizer.json held in memory (len bytes, need not be NUL-terminated). `name`
 * is used in messages. On failure returns NULL and writes "name: problem" into err. */
tokenizer *tokenizer_load_from_memory(const char *json, size_t len, const char *name, char *err,
                                      size_t errcap);
/* The same, from a file. */
tokenizer *tokenizer_load(const char *path, char *err, size_t errcap);
void tokenizer_free(tokenizer *t);

/* Largest id + 1 over the model's vocabulary and the added tokens. */
int tokenizer_vocab_size(const tokenizer *t);
/* Id of a token string (vocabulary or added token), −1 if none. */
int tokenizer_token_id(const tokenizer *t, const char *token);
/* The end-of-text id: the added token "<|endoftext|>" if present, else the first special
 * added token, else −1. */
int tokenizer_eos_id(const tokenizer *t);

/* (T.1)–(T.5): append the ids of text[0..len) to out, as tokenizers' encode(text,
 * add_special_tokens=False) (no post-processor template). Returns 0, or −1 when out of memory.
 * Not thread-safe: it uses the tokenizer's word cache and regex match data. */
int tokenizer_encode(tokenizer *t, const char *text, size_t len, tok_ids *out);
/* (T.6): append the decoded bytes of ids to out (ids outside the vocabulary are skipped and
 * counted in the return value; −1 when out of memory). skip_special drops special tokens. */
long tokenizer_decode(const tokenizer *t, const int32_t *ids, size_t n, int skip_special,
                      tok_bytes *out);
/* Bytes of one token (its piece of the decoded text), NULL if the id is unknown. */
const char *tokenizer_token_bytes(const tokenizer *t, int id, size_t *len);

/* (T.1) on its own: append text[0..len) to out with every maximal invalid subpart replaced
 * by U+FFFD. Returns the number of replacements, −1 when out of memory. */
long utf8_make_valid(const char *text, size_t len, tok_bytes *out);

/* The GPT-2 byte ↔ printable-character map (T.4): byte b is the code point
 * byte_level_char(b); printable Latin-1 bytes map to themselves, the others to 256 + k. */
uint32_t byte_level_char(uint8_t b);

/* Pre-tokenizer (T.3) on valid UTF-8: calls fn for each pre-token (as raw bytes). Exposed
 * for the trainer, which counts pre-tokens. Returns 0, or −1 on a regex failure. */
typedef int (*tok_piece_fn)(const char *piece, size_t len, void *ctx);
typedef struct tok_splitter tok_splitter;
tok_splitter *tok_splitter_new(char *err, size_t errcap);
void tok_splitter_free(tok_splitter *s);
int tok_split(tok_splitter *s, const char *text, size_t len, tok_piece_fn fn, void *ctx);

int tok_ids_push(tok_ids *v, int32_t id);
int tok_bytes_append(tok_bytes *b, const void *p, size_t n);
void tok_ids_free(tok_ids *v);
void tok_bytes_free(tok_bytes *b);

/* Vocabulary training (tokenizer_train.c), §T.7: learn a byte-level BPE with vocab_size
 * tokens (256 bytes + merges + "<|endoftext|>") from text, written as a tokenizer.json
 * that `tokenizers` loads. Returns 0, or −1 with err filled. */
int tokenizer_train(const char *text, size_t len, int vocab_size, const char *out_path,
                    int verbose, char *err, size_t errcap);

/* Write a byte-level BPE tokenizer.json (atomically: temp file, rename) from token strings
 * vocab[0..n_vocab) (id = index, in the byte-level alphabet), merges as pairs of those
 * strings, and one special end-of-text token with id eos_id (its string in vocab too). */
int tokenizer_write_json(const char *path, char **vocab, int n_vocab, char **merge_a,
                         char **merge_b, int n_merges, int eos_id, char *err, size_t errcap);

#endif
