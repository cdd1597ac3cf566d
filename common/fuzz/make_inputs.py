#!/usr/bin/env python3
"""common/fuzz/make_inputs.py — writes the seed corpora's synthetic files and the
regression inputs of common/fuzz/ (run from that folder; the outputs are committed).
Each regression input is a file the readers once mishandled or a case of the format's
grammar they must reject; test_harden runs read_input on every one and wants exit 2
with one line (no sanitizer report under SAN=1)."""
import json, struct

def st(header, data=b"", hlen=None):
    h = header if isinstance(header, bytes) else header.encode()
    n = len(h) if hlen is None else hlen
    return struct.pack("<Q", n) + h + data

def w(path, b):
    open(path, "wb").write(b if isinstance(b, bytes) else b.encode())

f32x6 = struct.pack("<6f", 1, 2, 3, 4, 5, 6)
good = '{"__metadata__":{"step":"12"},"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}}'
# seeds
w("corpus/safetensors/two_tensors.safetensors",
  st('{"__metadata__":{"kind":"s6","hidden_size":"8"},"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},'
     '"b":{"dtype":"F64","shape":[1],"data_offsets":[24,32]}}', f32x6 + struct.pack("<d", 0.5)))
w("corpus/safetensors/one_tensor.safetensors", st(good, f32x6))
w("corpus/safetensors/empty.safetensors", st('{}'))
R = "regress/safetensors/"
w(R + "metadata_array.safetensors", st('{"__metadata__":[1,2],"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}}', f32x6))
w(R + "metadata_number_value.safetensors", st('{"__metadata__":{"step":12},"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}}', f32x6))
w(R + "offsets_fractional.safetensors", st('{"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0.5,24.5]}}', f32x6 + b"\0"))
w(R + "offsets_overlap.safetensors", st('{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}}', f32x6))
w(R + "offsets_gap.safetensors", st('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[3],"data_offsets":[12,24]}}', f32x6))
w(R + "offsets_negative.safetensors", st('{"w":{"dtype":"F32","shape":[6],"data_offsets":[-4,20]}}', f32x6))
w(R + "offsets_2pow60.safetensors", st('{"w":{"dtype":"F32","shape":[6],"data_offsets":[1152921504606846976,1152921504606847000]}}', f32x6))
w(R + "shape_fractional.safetensors", st('{"w":{"dtype":"F32","shape":[2.5,2.4],"data_offsets":[0,24]}}', f32x6))
w(R + "shape_overflow.safetensors", st('{"w":{"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,24]}}', f32x6))
w(R + "header_60MB_claimed.safetensors", st(good, f32x6, hlen=60_000_000))
w(R + "header_nan_token.safetensors", st('{"w":{"dtype":"F32","shape":[6],"data_offsets":[0,NaN]}}', f32x6))
w(R + "header_duplicate_tensor.safetensors", st('{"w":{"dtype":"F32","shape":[6],"data_offsets":[0,24]},"w":{"dtype":"F32","shape":[6],"data_offsets":[0,24]}}', f32x6))
w(R + "header_trailing_bytes.safetensors", st(good + '}', f32x6))
w(R + "header_nul_byte.safetensors", st(good[:-1] + '\0}', f32x6))
w(R + "tail_bytes.safetensors", st(good, f32x6 + b"\0\0\0\0"))
w(R + "dtype_unknown_control_chars.safetensors", st('{"a\\r\\u001b[2Kb":{"dtype":"BF16","shape":[6],"data_offsets":[0,12]}}', f32x6[:12]))
w(R + "truncated_length.safetensors", b"\x10\0\0")
# JSON: what RFC 8259 does not allow, and what cJSON alone would take
J = "regress/json/"
for name, text in [("nan", '{"a": nan}'), ("NaN", '[NaN]'), ("inf", '[inf]'), ("Infinity", '[-Infinity]'),
                   ("hex", '[0x10]'), ("plus", '[+1]'), ("leading_zero", '[01]'), ("leading_dot", '[.5]'),
                   ("trailing_dot", '[1.]'), ("exp_no_digits", '[1e]'), ("overflow", '[1e999]'),
                   ("duplicate_key", '{"a": 1, "b": 2, "a": 3}'), ("duplicate_key_nested", '{"t": [{"x": 1, "x": 1}]}'),
                   ("trailing", '{"a": 1} x'), ("two_values", '{} {}'), ("nul_after", '{"a": 1}\0garbage'),
                   ("u0000", '{"a\\u0000b": 1}'), ("raw_control", '["a\tb"]'), ("vertical_tab_ws", '[1,\x0b2]'),
                   ("unterminated", '{"a": "b'), ("deep", '[' * 5000 + ']' * 5000), ("empty", ''),
                   ("single_quotes", "{'a': 1}"), ("comment", '[1 /* c */]'), ("trailing_comma", '[1,2,]')]:
    w(J + name + ".json", text)
# .npy: a header that claims far more data than the file holds
N = "regress/npy/"
def npy(hdr, data=b""):
    h = hdr + " " * ((64 - (10 + len(hdr) + 1) % 64) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h.encode() + data
w(N + "claims_16GiB.npy", npy("{'descr': '<f8', 'fortran_order': False, 'shape': (1073741824, 2), }", b"\0" * 16))
w(N + "claims_2pow40_elements.npy", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1048576, 1048576), }"))
w(N + "header_length_past_file.npy", b"\x93NUMPY\x01\x00\xff\xff{'descr': '<f8'")
# config.json seed (MambaConfig of a small model)
w("corpus/hf_config/config.json", json.dumps({
    "architectures": ["MambaForCausalLM"], "model_type": "mamba", "vocab_size": 1024, "hidden_size": 64,
    "state_size": 16, "num_hidden_layers": 2, "expand": 2, "conv_kernel": 4, "time_step_rank": "auto",
    "layer_norm_epsilon": 1e-5, "use_bias": False, "use_conv_bias": True, "hidden_act": "silu",
    "initializer_range": 0.1, "residual_in_fp32": True, "time_step_scale": 1.0, "time_step_min": 0.001,
    "time_step_max": 0.1, "time_step_init_scheme": "random", "time_step_floor": 0.0001,
    "rescale_prenorm_residual": False, "tie_word_embeddings": True, "pad_token_id": 0,
    "bos_token_id": 0, "eos_token_id": 0}, indent=2))
# tokenizer.json seed: byte-level BPE over a few bytes, as `tokenizers` writes it
def bytes_to_unicode():   # GPT-2's byte <-> printable character map (byte-level BPE)
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b); cs.append(256 + n); n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}
syms = [bytes_to_unicode()[b] for b in range(256)]
vocab = {c: i for i, c in enumerate(syms + ["ab", "abc", "\u0120a"])}
w("corpus/tokenizer/tokenizer.json", json.dumps({
    "version": "1.0", "truncation": None, "padding": None,
    "added_tokens": [{"id": 259, "content": "<|endoftext|>", "single_word": False, "lstrip": False,
                      "rstrip": False, "normalized": False, "special": True}],
    "normalizer": None,
    "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
    "post_processor": None, "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
    "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
              "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
              "vocab": vocab, "merges": ["a b", "ab c", "Ġ a"]}}, indent=1))
