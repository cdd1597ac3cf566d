#!/usr/bin/env python3
"""06_hw_aware_cuda/lm/reference/check_tokenizer.py — our C tokenizer against Hugging Face
`tokenizers` (the oracle), on a machine where `tokenizers` is installed (the GPU machine;
never a dependency of `make test`).

    python3 reference/check_tokenizer.py --tokenize build/tokenize --out OUTDIR \
        --corpus data/fortunes/train.txt data/fortunes/val.txt

For three tokenizer.json files — (a) corpus_tokenizer.json (trained by `tokenize train`),
(b) reference/gpt2_tokenizer.json (converted by `tokenize convert-gpt2`), (c) a NeoX-like
variant of (b) written here (add_prefix_space, whitespace-run added tokens matched before
BPE as GPT-NeoX has them, an lstrip/rstrip token) — it checks:
  * HF loads the file;
  * identical ids, document by document, on the corpus and a stress text generated here
    (mixed scripts, emoji, combining marks, whitespace runs, digits, contractions, invalid
    bytes; HF sees the bytes decoded with errors="replace", which is what our encoder does);
  * the same on each whole file encoded at once;
  * decode(encode(x)) == x (x after the U+FFFD repair) for ours, and ours == HF's decode;
  * encode/decode tokens/s on one core, ours and HF's.
Writes OUTDIR/tokenizer_oracle.md (results, machine named) and
OUTDIR/test_tokenizer_golden.json (short texts → ids, written by HF, checked by make test).
"""
import argparse, json, os, platform, random, subprocess, sys, time

EOT = "<|endoftext|>"


def stress_text(seed=20240520, target=700_000):
    """Deterministic stress text, as NUL-free bytes, cut into documents."""
    rng = random.Random(seed)
    pools = {
        "latin": ["café", "naïve", "Straße", "façade", "Ångström", "œuvre", "ﬁne", "İstanbul", "ǅemal"],
        "scripts": ["Ελληνικά γράμματα", "Привет, мир", "مرحبا بالعالم", "שלום עולם", "नमस्ते दुनिया",
                    "日本語のテキスト", "中文字符测试", "한국어 텍스트", "ภาษาไทย", "ქართული", "Ꭰ Ꭱ Ꭲ", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢"],
        "emoji": ["🎉", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇫🇷🇯🇵", "❤️", "🤖", "1️⃣", "🧑🏻‍💻", "☃", "😀😃😄"],
        "combining": ["e\u0301", "a\u0308\u0304", "n\u0303", "Z\u0335\u0336\u0337", "ก\u0e49", "क\u094d\u0937",
                      "\u0301", "o\u0328\u0301"],
        "space": [" " * k for k in (2, 3, 5, 8, 17, 40)] + ["\t", "\t\t", "\n", "\n\n\n", "\r\n", " \n ",
                  "\u00a0", "\u2003", "\u3000", "\u0085", "\u2028", "\u200b", "\ufeff", " \t \n", "\u180e"],
        "digits": ["0", "42", "3.14159", "1,000,000", "2024-05-20", "١٢٣", "²³", "１２３", "Ⅻ", "½", "007",
                   "12345678901234567890", "0x1F", "v1.2.3", "९८७"],
        "contractions": ["it's", "don't", "we're", "I've", "I'm", "you'll", "he'd", "IT'S", "DON'T",
                         "they’re", "'s", "'t", "''", "'ll've", "o'clock", "rock'n'roll"],
        "ascii": ["Hello", "world", "the", "quick brown fox", "(x+y)^2", "a_b", "foo.bar()", "<html>",
                  "#include", "$100", "e-mail", "C++", "...", "!!!", "???", "--", "@user", "~/path", "|"],
        "special": [EOT, "<|endoftext|", "<|endoftext|><|endoftext|>", " " + EOT + " ", "x" + EOT + "y"],
        "control": ["\x01", "\x07", "\x1b[0m", "\x7f", "\x0b", "\x0c"],
    }
    invalid = [b"\x80", b"\xff", b"\xc0\xaf", b"\xe2\x82", b"\xed\xa0\x80", b"\xf0\x9f\x98",
               b"\xf5\x80\x80\x80", b"\xf8\x88\x80\x80\x80", b"\xc3", b"\xe0\x80\x80", b"\xf4\x90\x80\x80",
               b"\xfe\xfe", b"a\x80b", b"\xef\xbf\xbd"]
    names = list(pools)
    docs, total = [], 0
    while total < target:
        n = rng.choice([1, 2, 5, 20, 80, 300, 1200])
        parts = []
        for _ in range(n):
            r = rng.random()
            if r < 0.06:
                parts.append(rng.choice(invalid))
            else:
                s = rng.choice(pools[rng.choice(names)])
                if rng.random() < 0.5:
                    s = rng.choice([" ", "", "", "  ", "\n"]) + s
                parts.append(s.encode("utf-8"))
        d = b"".join(parts)
        docs.append(d)
        total += len(d)
    return docs


def corpus_docs(paths, cut=4096):
    """The corpus files cut into fixed-size byte pieces (cuts may split a UTF-8 character:
    more invalid bytes, repaired the same way on both sides)."""
    docs = []
    for p in paths:
        b = open(p, "rb").read()
        docs += [b[i:i + cut] for i in range(0, len(b), cut)]
    return docs


def lossy(b):
    return b.decode("utf-8", errors="replace")


def ours_encode(tokenize, tok_json, docs):
    inp = b"\0".join(docs) + b"\0"
    r = subprocess.run([tokenize, "encode", tok_json, "-", "--nul"], input=inp, capture_output=True, check=True)
    lines = r.stdout.decode().split("\n")[:-1]
    assert len(lines) == len(docs), (len(lines), len(docs))
    return [[int(x) for x in l.split()] for l in lines]


def ours_decode(tokenize, tok_json, ids_list):
    inp = "".join(" ".join(map(str, ids)) + "\n" for ids in ids_list).encode()
    r = subprocess.run([tokenize, "decode", tok_json, "-", "--nul"], input=inp, capture_output=True, check=True)
    outs = r.stdout.split(b"\0")[:-1]
    assert len(outs) == len(ids_list), (len(outs), len(ids_list))
    return outs


def neox_like(gpt2_path, out_path):
    """GPT-2's vocabulary with GPT-NeoX's conventions: add_prefix_space, whitespace runs
    as (normalized, non-special) added tokens matched before BPE, plus one lstrip/rstrip
    special token — the code paths the GPT-NeoX tokenizer.json of Mamba's checkpoints uses."""
    j = json.load(open(gpt2_path, encoding="utf-8"))
    j["pre_tokenizer"]["add_prefix_space"] = True
    nid = max(j["model"]["vocab"].values()) + 1
    for k in range(24, 1, -1):
        j["added_tokens"].append({"id": nid, "content": " " * k, "single_word": False, "lstrip": False,
                                  "rstrip": False, "normalized": True, "special": False})
        nid += 1
    j["added_tokens"].append({"id": nid, "content": "<mask>", "single_word": False, "lstrip": True,
                              "rstrip": True, "normalized": False, "special": True})
    json.dump(j, open(out_path, "w", encoding="utf-8"), ensure_ascii=False)


def bench_hf(tok, text_str, ids, seconds=3.0):
    t0, reps = time.perf_counter(), 0
    while True:
        enc = tok.encode(text_str, add_special_tokens=False)
        reps += 1
        te = time.perf_counter() - t0
        if te >= seconds:
            break
    n = len(enc.ids)
    t0, dreps = time.perf_counter(), 0
    while True:
        tok.decode(ids, skip_special_tokens=False)
        dreps += 1
        td = time.perf_counter() - t0
        if td >= seconds:
            break
    return n * reps / te, n * dreps / td


def bench_ours(tokenize, tok_json, path, seconds=3.0):
    r = subprocess.run([tokenize, "bench", tok_json, path, str(seconds)], capture_output=True, check=True, text=True)
    row = r.stdout.strip().split("\n")[1].split("\t")
    return float(row[3]), float(row[5]), int(row[2])


def main():
    from tokenizers import Tokenizer   # here, so that the helpers above import without it
    import tokenizers
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokenize", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--corpus", nargs="+", required=True)
    ap.add_argument("--seconds", type=float, default=3.0)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    here = os.path.dirname(os.path.abspath(__file__))
    lm = os.path.dirname(here)
    os.environ["RAYON_NUM_THREADS"] = "1"
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    cpus = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpus[0]})   # one core, for HF and (inherited) for our binary

    neox = os.path.join(a.out, "neox_like_tokenizer.json")
    neox_like(os.path.join(here, "gpt2_tokenizer.json"), neox)
    toks = [("trained (corpus_tokenizer.json)", os.path.join(lm, "corpus_tokenizer.json")),
            ("GPT-2 (reference/gpt2_tokenizer.json)", os.path.join(here, "gpt2_tokenizer.json")),
            ("NeoX-like variant of GPT-2", neox)]
    stress = stress_text()
    stress_path = os.path.join(a.out, "stress.txt")
    open(stress_path, "wb").write(b"".join(stress))
    corpus = corpus_docs(a.corpus)
    sets = [("corpus", corpus), ("stress", stress)]
    whole = [("corpus " + os.path.basename(p), open(p, "rb").read()) for p in a.corpus] + \
            [("stress.txt", b"".join(stress))]

    lines = []
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
    try:
        gpu = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True).stdout.strip()
    except OSError:
        gpu = "none"
    lines.append("# Tokenizer oracle: our C encoder/decoder against Hugging Face tokenizers\n")
    lines.append(f"Machine: {cpu} (GPU machine: {gpu}); one core pinned (CPU {cpus[0]}); "
                 f"tokenizers {tokenizers.__version__}, Python {platform.python_version()}; "
                 f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.\n")
    lines.append(f"Texts: corpus {sum(map(len, corpus))} bytes in {len(corpus)} pieces of 4096 bytes "
                 f"({', '.join(os.path.basename(p) for p in a.corpus)}); stress {sum(map(len, stress))} bytes "
                 f"in {len(stress)} documents (invalid bytes included; HF sees them decoded with errors=\"replace\").\n")
    lines.append("| tokenizer | text | documents | identical ids | tokens | decode(encode(x)) = x | our decode = HF decode |")
    lines.append("|---|---|---|---|---|---|---|")
    all_ok = True
    golden = {"tokenizers_version": tokenizers.__version__, "written_by": "reference/check_tokenizer.py (HF tokenizers)",
              "cases": []}
    speed = []
    for tname, tpath in toks:
        hf = Tokenizer.from_file(tpath)   # (step 2: HF loads what we wrote)
        for sname, docs in sets:
            ours = ours_encode(a.tokenize, tpath, docs)
            theirs = [e.ids for e in hf.encode_batch([lossy(d) for d in docs], add_special_tokens=False)]
            same = sum(o == t for o, t in zip(ours, theirs))
            first_bad = next((i for i, (o, t) in enumerate(zip(ours, theirs)) if o != t), None)
            dec = ours_decode(a.tokenize, tpath, ours)
            rt = sum(dd == lossy(d).encode() for dd, d in zip(dec, docs))
            hfdec = hf.decode_batch(theirs, skip_special_tokens=False)
            dsame = sum(dd == h.encode() for dd, h in zip(dec, hfdec))
            ntok = sum(map(len, theirs))
            # with add_prefix_space the round trip gains a space before each piece (HF too)
            prefix = json.load(open(tpath, encoding="utf-8"))["pre_tokenizer"].get("add_prefix_space", False)
            ok = same == len(docs) and (prefix or rt == len(docs)) and dsame == len(docs)
            rt = "n/a (prefix space)" if prefix else rt
            all_ok &= ok
            lines.append(f"| {tname} | {sname} | {len(docs)} | {same} | {ntok} | {rt} | {dsame} |")
            if first_bad is not None:
                d = docs[first_bad]
                o, t = ours[first_bad], theirs[first_bad]
                k = next((i for i in range(min(len(o), len(t))) if o[i] != t[i]), min(len(o), len(t)))
                print(f"MISMATCH {tname} {sname} doc {first_bad}: at id {k}: ours {o[k:k+8]} HF {t[k:k+8]}; "
                      f"text {lossy(d)[:200]!r}", file=sys.stderr)
        for wname, data in whole:
            o = ours_encode(a.tokenize, tpath, [data])[0]
            t = hf.encode(lossy(data), add_special_tokens=False).ids
            all_ok &= o == t
            lines.append(f"| {tname} | whole file {wname} | 1 | {int(o == t)} | {len(t)} | | |")
        # speed on the training split, one core
        txt = open(a.corpus[0], "rb").read()
        hf_ids = hf.encode(lossy(txt), add_special_tokens=False).ids
        he, hd = bench_hf(hf, lossy(txt), hf_ids, a.seconds)
        oe, od, n = bench_ours(a.tokenize, tpath, a.corpus[0], a.seconds)
        speed.append((tname, n, oe, he, od, hd))
        # golden vectors: short texts → ids, as HF writes them
        rng = random.Random(7)
        picks = [d for d in stress if 0 < len(d) <= 200][:40] + [corpus[i][:300] for i in (0, 5, 50, 300)]
        picks += [b"", b" ", b"  hello", b"Hello world", EOT.encode(), b"a" + EOT.encode() + b"b",
                  b"<mask>  x  <mask>", b"\xff\xfe invalid \xc3", "e\u0301 ＡＢＣ ١٢٣".encode()]
        rng.shuffle(picks)
        for d in picks:
            golden["cases"].append({"tokenizer": os.path.basename(tpath), "text_hex": d.hex(),
                                    "ids": hf.encode(lossy(d), add_special_tokens=False).ids})
    lines.append("")
    lines.append(f"Speed, one core, on {os.path.basename(a.corpus[0])} ({os.path.getsize(a.corpus[0])} bytes) "
                 f"encoded whole (HF: Tokenizer.encode on the str, RAYON_NUM_THREADS=1; ours: tokenize bench), "
                 f"each timed for {a.seconds} s:\n")
    lines.append("| tokenizer | tokens | ours encode tok/s | HF encode tok/s | ratio | ours decode tok/s | HF decode tok/s | ratio |")
    lines.append("|---|---|---|---|---|---|---|---|")
    for tname, n, oe, he, od, hd in speed:
        lines.append(f"| {tname} | {n} | {oe:,.0f} | {he:,.0f} | {oe / he:.2f}× | {od:,.0f} | {hd:,.0f} | {od / hd:.2f}× |")
    lines.append("")
    lines.append("All equal: " + ("yes" if all_ok else "NO"))
    # the NeoX-like file is rebuilt by the test from gpt2_tokenizer.json the same way
    golden["neox_like"] = {"add_prefix_space": True, "space_runs": [24, 2], "mask": "<mask> lstrip rstrip special"}
    open(os.path.join(a.out, "tokenizer_oracle.md"), "w").write("\n".join(lines) + "\n")
    json.dump(golden, open(os.path.join(a.out, "test_tokenizer_golden.json"), "w"), indent=0)
    print("\n".join(lines))
    sys.exit(0 if all_ok else 1)


if __name__ == "__main__":
    main()
