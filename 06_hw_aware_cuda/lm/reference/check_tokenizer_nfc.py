#!/usr/bin/env python3
"""06_hw_aware_cuda/lm/reference/check_tokenizer_nfc.py — the NFC normalizer (GPT-NeoX's,
hence Mamba's tokenizer.json) against Python's unicodedata, an independent NFC: for GPT-2's
vocabulary with "normalizer": {"type": "NFC"}, our ids of x must equal our ids of
unicodedata.normalize("NFC", x) under the file without a normalizer (whose ids equal HF's:
results/tokenizer_oracle.md). Runs anywhere (standard library only):

    python3 reference/check_tokenizer_nfc.py --tokenize build/tokenize --corpus data/fortunes/val.txt
"""
import argparse, json, os, sys, tempfile, unicodedata

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_tokenizer import corpus_docs, lossy, ours_encode, stress_text  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokenize", required=True)
    ap.add_argument("--corpus", nargs="+", required=True)
    a = ap.parse_args()
    here = os.path.dirname(os.path.abspath(__file__))
    gpt2 = os.path.join(here, "gpt2_tokenizer.json")
    j = json.load(open(gpt2, encoding="utf-8"))
    j["normalizer"] = {"type": "NFC"}
    with tempfile.TemporaryDirectory() as d:
        nfc_path = os.path.join(d, "nfc.json")
        json.dump(j, open(nfc_path, "w", encoding="utf-8"), ensure_ascii=False)
        # decomposed stress text too: NFD of every document, so NFC has work to do
        stress = stress_text()
        docs = stress + [unicodedata.normalize("NFD", lossy(x)).encode() for x in stress] + corpus_docs(a.corpus)
        ours = ours_encode(a.tokenize, nfc_path, docs)
        want = ours_encode(a.tokenize, gpt2, [unicodedata.normalize("NFC", lossy(x)).encode() for x in docs])
        same = sum(o == w for o, w in zip(ours, want))
        changed = sum(unicodedata.normalize("NFC", lossy(x)) != lossy(x) for x in docs)
        print(f"NFC: {same} of {len(docs)} documents identical ({changed} of them changed by NFC; "
              f"{sum(map(len, docs))} bytes; Python unicodedata {unicodedata.unidata_version})")
        ok = same == len(docs)
        try:   # where Hugging Face tokenizers is installed (the GPU machine): the real client too
            import tokenizers
        except ImportError:
            tokenizers = None
        if tokenizers is not None:
            hf = tokenizers.Tokenizer.from_file(nfc_path)
            hf_ids = [hf.encode(lossy(x)).ids for x in docs]
            same_hf = sum(o == h for o, h in zip(ours, hf_ids))
            print(f"NFC vs Hugging Face tokenizers {tokenizers.__version__} (same file, normalizer NFC): "
                  f"{same_hf} of {len(docs)} documents identical ids")
            ok &= same_hf == len(docs)
        sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
