#!/usr/bin/env python3
"""Writes ../card.json for he-tile-classifier 0.2.0: 0.1.0's card (same network, weights, classes and training
metrics) with the uint8 input, this file's sha256 and the end-to-end evaluation of this model file
(train/evaluation.json, from 0.1.0's evaluate.ts run on this folder and compared with 0.1.0).

    /usr/bin/python3 models/he-tile-classifier/0.2.0/train/write_card.py
"""
import copy
import datetime
import hashlib
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.dirname(HERE)
BASE = os.path.join(OUT, '..', '0.1.0')
COMMAND = (
    '/usr/bin/python3 models/he-tile-classifier/0.2.0/train/convert.py && '
    'node -r @swc-node/register models/he-tile-classifier/0.1.0/train/evaluate.ts /tmp/he-eval models/he-tile-classifier/0.2.0 models/he-tile-classifier/0.1.0 && '
    '/usr/bin/python3 models/he-tile-classifier/0.2.0/train/write_card.py'
)


def main():
    base = json.load(open(os.path.join(BASE, 'card.json')))
    sha = hashlib.sha256(open(os.path.join(OUT, 'model.onnx'), 'rb').read()).hexdigest()
    ev = json.load(open(os.path.join(HERE, 'evaluation.json')))['summary']
    if ev.get('compared_with') != '0.1.0' or ev.get('max_abs_probability_difference') != 0:
        raise SystemExit(f'0.2.0 must give 0.1.0\'s probabilities exactly; evaluation.json says {ev.get("max_abs_probability_difference")} against {ev.get("compared_with")}')
    card = copy.deepcopy(base)
    card['version'] = '0.2.0'
    card['created'] = datetime.date.today().isoformat()
    card['sha256'] = sha
    card['description'] = base['description'] + (
        ' Version 0.2.0 is 0.1.0 (same network and weights) taking the tile as raw RGB bytes: uint8 input, converted to '
        'float and divided by 255 inside the graph, so the caller writes a quarter of the bytes and divides nothing; its '
        'probabilities equal 0.1.0\'s exactly.')
    card['source'] = 'derived in this repository from he-tile-classifier 0.1.0 (models/he-tile-classifier/0.1.0/train/train.py) by models/he-tile-classifier/0.2.0/train/convert.py'
    image = card['network_data_format']['inputs']['image']
    image['dtype'] = 'uint8'
    image['value_range'] = [0, 255]
    card['preprocessing']['normalisation'] = ('none by the caller: RGB uint8 as read; the graph casts to float32 and divides by 255 '
                                              '(the float32 values 0.1.0 was given); no stain normalisation (trained with HED-space stain, '
                                              'brightness, saturation and per-channel jitter)')
    metrics = card['evaluation']['metrics']
    metrics['end_to_end'] = {
        'pipeline': 'openSlide -> classifySlide (onnxruntime-node, uint8 tiles) -> slideMetrics',
        'max_abs_fraction_error': round(ev['max_abs_fraction_error'], 4),
        'mean_abs_fraction_error': {k: round(v, 4) for k, v in ev['mean_abs_fraction_error'].items()},
        'max_abs_tumour_fraction_error': round(ev['max_abs_tumour_fraction_error'], 4),
        'max_abs_stromal_til_error_pp': round(ev['max_abs_stromal_til_error_pp'], 2),
        'max_abs_probability_difference_vs_0_1_0': ev['max_abs_probability_difference'],
    }
    card['evaluation']['command'] = COMMAND
    card['evaluation']['note'] = base['evaluation']['note'] + '; training metrics (val/eval tile accuracy, training time) are 0.1.0\'s: the weights are the same'
    json.dump(card, open(os.path.join(OUT, 'card.json'), 'w'), indent=2)
    open(os.path.join(OUT, 'card.json'), 'a').write('\n')
    print(f'card.json written, sha256 {sha}')


if __name__ == '__main__':
    main()
