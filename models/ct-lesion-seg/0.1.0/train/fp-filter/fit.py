"""Fits the component classifier (a logistic regression over libs/airead componentFeatures) on tuning seeds and
chooses its threshold by cross-validation grouped by scan; evaluates once on held-out seeds.

  /usr/bin/python3 fit.py fit  TRAIN.jsonl  > classifier.json      (seeds 1200-1259: never in 0.1.0's training)
  /usr/bin/python3 fit.py eval classifier.json EVAL.jsonl           (fresh seeds 9040-9139)

The card's existing rule (mean argmax probability >= 0.88 over components of >= 10 voxels) stays; the classifier
can only drop more components. Threshold: the lowest cross-validated false positives per scan that loses at most
one eligible lesion (>= 10 mm, imaged at its centre) across the tuning scans relative to the existing rule.
"""
import json
import sys

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold

FEATURES = ['mean_probability', 'high_probability_fraction', 'log_volume_mm3', 'slices', 'log_z_to_inplane',
            'mean_hu', 'sd_hu', 'shell_contrast_hu', 'bbox_fill', 'class_1', 'class_2', 'class_3']
MIN_MEAN_P = 0.88


def load(path):
    scans = [json.loads(l) for l in open(path)]
    X, y, seed, base = [], [], [], []
    for s in scans:
        for c in s['comps']:
            X.append([c['f'][k] for k in FEATURES])
            y.append(1 if c['gts'] else 0)
            seed.append(s['seed'])
            base.append(c['f']['mean_probability'] >= MIN_MEAN_P)
    return scans, np.array(X, float), np.array(y), np.array(seed), np.array(base)


def metrics(scans, keep):
    """keep: per component (in load order) True when it survives. FP = kept components overlapping no lesion."""
    q = 0
    fp = eligible = detected = 0
    for s in scans:
        kept = set()
        for c in s['comps']:
            if keep[q]:
                kept.add(c['id'])
                if not c['gts']:
                    fp += 1
            q += 1
        hit = set(g for c in s['comps'] if c['id'] in kept for g in c['gts'])
        for l in s['lesions']:
            if l['ld'] >= 10:
                eligible += 1
                detected += l['gc'] in hit
    return {'scans': len(scans), 'fp': fp, 'fp_per_scan': fp / len(scans), 'eligible': eligible, 'detected': detected,
            'sensitivity_ge10mm': detected / eligible}


def fit_lr(X, y):
    mu, sd = X.mean(0), X.std(0)
    sd[sd == 0] = 1
    lr = LogisticRegression(C=1.0, max_iter=5000).fit((X - mu) / sd, y)
    return lr, mu, sd


def main():
    if sys.argv[1] == 'fit':
        scans, X, y, seed, base = load(sys.argv[2])
        oof = np.zeros(len(y))
        for tr, te in GroupKFold(n_splits=5).split(X, y, seed):
            lr, mu, sd = fit_lr(X[tr], y[tr])
            oof[te] = lr.predict_proba((X[te] - mu) / sd)[:, 1]
        b = metrics(scans, base)
        best = None
        table = []
        for t in np.round(np.arange(0.0, 0.96, 0.01), 2):
            m = metrics(scans, base & (oof >= t))
            table.append({'t': float(t), **m})
            if b['detected'] - m['detected'] <= 1 and (best is None or m['fp'] < best['fp']):
                best = {'t': float(t), **m}
        lr, mu, sd = fit_lr(X, y)
        print(json.dumps({
            'features': FEATURES, 'mean': mu.tolist(), 'scale': sd.tolist(), 'coef': lr.coef_[0].tolist(),
            'intercept': float(lr.intercept_[0]), 'min_probability': best['t'],
            'tuning': {'seeds': [int(seed.min()), int(seed.max())], 'components': int(len(y)), 'lesion_components': int(y.sum()),
                       'existing_rule': b, 'chosen_cross_validated': best, 'table': table},
        }, indent=1))
    else:
        m = json.load(open(sys.argv[2]))
        scans, X, y, seed, base = load(sys.argv[3])
        assert m['features'] == FEATURES
        z = m['intercept'] + ((X - np.array(m['mean'])) / np.array(m['scale'])) @ np.array(m['coef'])
        p = 1 / (1 + np.exp(-z))
        print(json.dumps({'seeds': [int(seed.min()), int(seed.max())], 'existing_rule': metrics(scans, base),
                          'with_classifier': metrics(scans, base & (p >= m['min_probability']))}, indent=1))


main()
