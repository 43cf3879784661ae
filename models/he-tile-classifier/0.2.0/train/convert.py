#!/usr/bin/env python3
"""Makes he-tile-classifier 0.2.0 from 0.1.0: the same network and weights, taking the tile as raw RGB bytes.

    /usr/bin/python3 models/he-tile-classifier/0.2.0/train/convert.py

0.1.0's input `image` is float32 [N, 3, 32, 32] in [0, 1] (RGB / 255, divided by the caller). 0.2.0's input `image`
is uint8 [N, 3, 32, 32] (the RGB bytes as read) and the graph begins with Cast(float) and Div(255): float32 x / 255,
the same float32 value the caller computed for 0.1.0 (checked below for every byte value), so the outputs are the
same to the bit. Why: a tile is a quarter of the bytes to write and move, and the caller does no division
(libs/inference/README.md, the slide benchmark). Nothing else of the graph changes.
"""
import hashlib
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.dirname(HERE)
SRC = os.path.join(OUT, '..', '0.1.0', 'model.onnx')


def main():
    m = onnx.load(SRC)
    g = m.graph
    assert len(g.input) == 1 and g.input[0].name == 'image', 'expected one input "image"'
    inp = g.input[0]
    assert inp.type.tensor_type.elem_type == TensorProto.FLOAT
    inner = 'image_float'
    for n in g.node:
        for i, x in enumerate(n.input):
            if x == 'image':
                n.input[i] = inner
    g.initializer.append(numpy_helper.from_array(np.array(255.0, dtype=np.float32), 'image_scale'))
    g.node.insert(0, helper.make_node('Div', ['image_as_float', 'image_scale'], [inner], name='image_div_255'))
    g.node.insert(0, helper.make_node('Cast', ['image'], ['image_as_float'], to=TensorProto.FLOAT, name='image_cast'))
    inp.type.tensor_type.elem_type = TensorProto.UINT8
    m.doc_string = 'he-tile-classifier 0.2.0: 0.1.0 with uint8 RGB input, Cast + Div(255) inside the graph'
    onnx.checker.check_model(m)
    # every byte value maps to the float32 that JavaScript's Float32Array stores for b / 255 (double division, then
    # rounded to float32): the values 0.1.0's callers fed
    b = np.arange(256, dtype=np.float64)
    assert np.array_equal((b.astype(np.float32) / np.float32(255)).astype(np.float32), (b / 255.0).astype(np.float32))
    path = os.path.join(OUT, 'model.onnx')
    onnx.save(m, path)
    print(f'{path}: sha256 {hashlib.sha256(open(path, "rb").read()).hexdigest()}')


if __name__ == '__main__':
    main()
