#!/usr/bin/python3
"""common/fuzz/npy_header_oracle.py — NumPy's verdict on .npy headers: writes each header
below as a .npy v1.0 file (16 data bytes) into the current folder, loads it with
numpy.load and prints what NumPy did. The table in common/tests/test_harden.c
(npy_header_matches_numpy) holds these verdicts (NumPy 1.24.2); rerun this where NumPy
is installed to check them:  mkdir /tmp/h && cd /tmp/h && python3 .../npy_header_oracle.py"""
import numpy as np, struct, io
cases = [
 "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }",
 "{'descr': '<f8', 'fortran_order': False, 'shape': (2,)}",
 '{"descr": "<f8", "fortran_order": False, "shape": (2,)}',
 "{'shape': (2,), 'fortran_order': False, 'descr': '<f8'}",
 "{'descr':'<f8','fortran_order':False,'shape':(2,)}",
 "{ 'descr' : '<f8' ,\t'fortran_order' : False , 'shape' : ( 2 , ) , }",
 "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2), }",
 "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2,), }",
 "{'descr': '<f8', 'fortran_order': False, 'shape': (2), }",
 "{'descr': '<f8', 'fortran_order': False, 'shape': [2], }",
 "{'descr': '<f8', 'fortran_order': False, 'shape': (2.0,), }",
 "{'descr': '<f8', 'fortran_order': False, 'shape': (-2,), }",
 "{'descr': '<f8', 'fortran_order': False, 'shape': (02,), }",
 "{'descr': '<f8', 'fortran_order': False, 'shape': (0_2,), }",
 "{'descr': '<f8', 'fortran_order': False, 'shape': (1_1,), }",
 "{'descr': '<f8', 'fortran_order': 0, 'shape': (2,), }",
 "{'descr': '<f8', 'fortran_order': false, 'shape': (2,), }",
 "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), 'extra': 1}",
 "{'descr': '<f8', 'shape': (2,), }",
 "{'descr': '<f4', 'descr': '<f8', 'fortran_order': False, 'shape': (2,), }",
 "{'descr': '<f8', 'descr': '<f4', 'fortran_order': False, 'shape': (4,), }",
 "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), } garbage",
 "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), },",
 "{'descr': '<f8', 'fortran_order': False, 'shape': (2,),, }",
 "{'descr': '<f8' 'fortran_order': False, 'shape': (2,), }",
 "{'descr': '<f8', 'fortran_order': False, 'shape': (,), }",
 "{'descr': '<f8', 'fortran_order': False, 'shape': (2,,), }",
 "{'descr': '<f8', 'fortran_order': False, 'shape': (2 3,), }",
 "{'descr': '<f8', 'fortran_order': False, 'shape': (1,2,1,1), }",
 "{'descr': '<f8', 'fortran_order': False, 'shape': (2, ), }\n",
 "  {'descr': '<f8', 'fortran_order': False, 'shape': (2,), }",
 "{'descr': '<f8', 'fortran_order': Falsey, 'shape': (2,), }",
 "{'descr': 'f8', 'fortran_order': False, 'shape': (2,), }",
 "{'descr': '=f8', 'fortran_order': False, 'shape': (2,), }",
 "{'descr': '|f8', 'fortran_order': False, 'shape': (2,), }",
 "{'descr': '<f8', 'fortran_order': False, 'shape': (0x2,), }",
 "{'descr': '<f8', 'fortran_order': False, 'shape': (True, 2), }",
 "{'descr': '<f8', 'fortran_order': False, 'shape': (+2,), }",
 "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), } # c",
 "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), 'descr': '<f8'}",
 "{'descr': '<f8', 'fortran_order': True, 'shape': (2,), 'fortran_order': False}",
 "{}",
 "",
]
import sys
out = []
for i, h in enumerate(cases):
    hb = h.encode('latin1')
    pad = (64 - (10 + len(hb) + 1) % 64) % 64
    full = hb + b' ' * pad + b'\n'
    b = b'\x93NUMPY\x01\x00' + struct.pack('<H', len(full)) + full + struct.pack('<2d', 1.5, -2.5)
    open(f'case{i:02d}.npy', 'wb').write(b)
    try:
        a = np.load(f'case{i:02d}.npy')
        r = f'ok {a.dtype} {a.shape}'
    except Exception as e:
        r = 'reject ' + type(e).__name__
    out.append(r)
    print(i, r, '|', h)
