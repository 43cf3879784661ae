#!/usr/bin/python3
"""
Trains the exploratory response model (models/response-model/0.1.0) and writes model.onnx + card.json.

Input: the CSVs written by export-features.ts (trial A = training, trial B = held-out evaluation), columns
usubjid, baselineSumMm, earlyShrinkagePct, earlyNewLesions, pfChange, stepsChangePct, crsp, pfs6
(empty cell = missing feature / no label).

Model: two logistic regressions (sklearn, lbfgs, L2 with C = 1) on standardised features:
  x_imp = x with each missing value replaced by the training mean of its feature
  z     = (x_imp - mean) / scale          (mean, scale: training mean and SD after imputation)
  p_k   = sigmoid(z . w_k + b_k)          k = 0: confirmed objective response, 1: progression-free at 6 months
Output 1 is fitted on the training subjects that have a pfs6 label (censored before 6 months: excluded).
The ONNX graph is written by hand with onnx.helper: Sub(mean) -> Div(scale) -> MatMul(W [5,2]) -> Add(b [2])
-> Sigmoid; input `features` [N,5] float32, output `probs` [N,2]. Imputation happens before the graph (the
card's preprocessing.impute_values; libs/endpoints featureMatrix).

Evaluation on trial B (the exported ONNX weights, evaluated with numpy in float32 exactly as the graph does):
AUC, Brier score, and calibration slope / intercept from the logistic recalibration
logit(P(y=1)) = a + b * logit(p) (unpenalised maximum likelihood, Newton-Raphson).

Usage: /usr/bin/python3 train.py <csvDir> <outDir>   (see README.md)
"""
import hashlib
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score

FEATURES = ['baselineSumMm', 'earlyShrinkagePct', 'earlyNewLesions', 'pfChange', 'stepsChangePct']
UNITS = {
    'baselineSumMm': 'baseline sum of target-lesion diameters (mm)',
    'earlyShrinkagePct': 'early tumour shrinkage: % change of the target sum at the first follow-up (%)',
    'earlyNewLesions': 'new lesions at the first follow-up (0/1)',
    'pfChange': 'QLQ-C30 physical functioning (PF2) change from baseline, first follow-up window (points)',
    'stepsChangePct': 'change in mean weekly steps, weeks 1-4 vs baseline week (%)',
}
OUTPUTS = ['P(confirmed objective response)', 'P(progression-free at 6 months)']
TRIAL_A = {'subjects': 600, 'visits': 8, 'seed': 20261, 'stepWeeks': 8, 'outcomeCoupling': True, 'studyId': 'SIM-RM-A'}
TRIAL_B = {'subjects': 600, 'visits': 8, 'seed': 20262, 'stepWeeks': 8, 'outcomeCoupling': True, 'studyId': 'SIM-RM-B'}


def read(path):
    with open(path) as f:
        header = f.readline().strip().split(',')
        rows = [line.rstrip('\n').split(',') for line in f if line.strip()]
    col = {h: i for i, h in enumerate(header)}
    num = lambda v: np.nan if v == '' else float(v)
    x = np.array([[num(r[col[k]]) for k in FEATURES] for r in rows], dtype=np.float64)
    crsp = np.array([num(r[col['crsp']]) for r in rows])
    pfs6 = np.array([num(r[col['pfs6']]) for r in rows])
    return x, crsp, pfs6


def logit(p):
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return np.log(p / (1 - p))


def recalibration(y, p):
    """Unpenalised logistic regression y ~ a + b * logit(p) by Newton-Raphson: returns (a, b)."""
    X = np.column_stack([np.ones_like(p), logit(p)])
    beta = np.zeros(2)
    for _ in range(100):
        mu = 1 / (1 + np.exp(-X @ beta))
        g = X.T @ (y - mu)
        H = X.T @ (X * (mu * (1 - mu))[:, None])
        step = np.linalg.solve(H, g)
        beta += step
        if np.max(np.abs(step)) < 1e-12:
            break
    return float(beta[0]), float(beta[1])


def metrics(y, p):
    a, b = recalibration(y, p)
    return {
        'n': int(len(y)), 'positives': int(y.sum()), 'observed_rate': round(float(y.mean()), 4), 'mean_predicted': round(float(p.mean()), 4),
        'auc': round(float(roc_auc_score(y, p)), 4), 'brier': round(float(brier_score_loss(y, p)), 4),
        'calibration_intercept': round(a, 4), 'calibration_slope': round(b, 4),
    }


def build_onnx(mean, scale, W, b):
    f32 = lambda a: np.asarray(a, dtype=np.float32)
    inits = [numpy_helper.from_array(f32(mean), 'mean'), numpy_helper.from_array(f32(scale), 'scale'),
             numpy_helper.from_array(f32(W), 'W'), numpy_helper.from_array(f32(b), 'b')]
    nodes = [
        helper.make_node('Sub', ['features', 'mean'], ['centred'], name='standardise_sub'),
        helper.make_node('Div', ['centred', 'scale'], ['z'], name='standardise_div'),
        helper.make_node('MatMul', ['z', 'W'], ['zw'], name='linear_matmul'),
        helper.make_node('Add', ['zw', 'b'], ['logits'], name='linear_add'),
        helper.make_node('Sigmoid', ['logits'], ['probs'], name='sigmoid'),
    ]
    graph = helper.make_graph(
        nodes, 'response_model',
        [helper.make_tensor_value_info('features', TensorProto.FLOAT, ['N', 5])],
        [helper.make_tensor_value_info('probs', TensorProto.FLOAT, ['N', 2])],
        inits,
    )
    model = helper.make_model(graph, producer_name='models/response-model/0.1.0/train/train.py', producer_version='0.1.0',
                              opset_imports=[helper.make_opsetid('', 13)])
    model.ir_version = 8
    model.doc_string = 'Exploratory response model: features [N,5] -> probs [N,2] (P(confirmed response), P(PF at 6 months)). Not an endpoint.'
    onnx.checker.check_model(model)
    return model


def run_graph_numpy(mean, scale, W, b, x):
    """The graph's arithmetic in float32, as onnxruntime evaluates it."""
    z = (x.astype(np.float32) - mean.astype(np.float32)) / scale.astype(np.float32)
    logits = z @ W.astype(np.float32) + b.astype(np.float32)
    return (1 / (1 + np.exp(-logits.astype(np.float64)))).astype(np.float32)


def main():
    csv_dir = sys.argv[1] if len(sys.argv) > 1 else '/tmp/response-model'
    out_dir = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
    xa, ya_r, ya_p = read(os.path.join(csv_dir, 'trial-a.csv'))
    xb, yb_r, yb_p = read(os.path.join(csv_dir, 'trial-b.csv'))

    impute = np.nanmean(xa, axis=0)
    fill = lambda x: np.where(np.isnan(x), impute, x)
    xa_i = fill(xa)
    mean = xa_i.mean(axis=0)
    scale = xa_i.std(axis=0)
    za = (xa_i - mean) / scale

    W = np.zeros((5, 2))
    b = np.zeros(2)
    fit_n = []
    for k, y in enumerate([ya_r, ya_p]):
        keep = ~np.isnan(y)
        clf = LogisticRegression(C=1.0, solver='lbfgs', max_iter=1000).fit(za[keep], y[keep].astype(int))
        W[:, k] = clf.coef_[0]
        b[k] = clf.intercept_[0]
        fit_n.append((int(keep.sum()), int(y[keep].sum())))

    model = build_onnx(mean, scale, W, b)
    onnx_path = os.path.join(out_dir, 'model.onnx')
    onnx.save(model, onnx_path)
    with open(onnx_path, 'rb') as f:
        sha = hashlib.sha256(f.read()).hexdigest()

    # Evaluate the exported weights (float32) on trial B; missing values imputed with the TRAINING means.
    pb = run_graph_numpy(mean, scale, W, b, fill(xb)).astype(np.float64)
    pa = run_graph_numpy(mean, scale, W, b, xa_i).astype(np.float64)
    ev = {}
    for k, (name, yb, ya) in enumerate([('confirmed_response', yb_r, ya_r), ('progression_free_6m', yb_p, ya_p)]):
        kb, ka = ~np.isnan(yb), ~np.isnan(ya)
        ev[name] = {'held_out_trial_b': metrics(yb[kb], pb[kb, k]), 'training_trial_a': metrics(ya[ka], pa[ka, k])}

    r = lambda a: [round(float(v), 6) for v in a]
    card = {
        'schema_version': '1.0',
        'id': 'response-model',
        'version': '0.1.0',
        'task': 'prediction',
        'description': 'Two logistic regressions on five early on-treatment features (baseline tumour burden, early tumour shrinkage, '
                       'early new lesions, QLQ-C30 physical-functioning change, change in weekly steps) giving P(confirmed objective '
                       'response, RECIST 1.1) and P(progression-free at 6 months). Exploratory only.',
        'authors': ['Endpoint service model team'],
        'created': '2026-12-05',
        'file': 'model.onnx',
        'sha256': sha,
        'licence': {
            'weights': 'Apache-2.0',
            'training_data': 'CC0-1.0',
            'training_data_source': 'synthetic: libs/endpoints simulateTrial ' + json.dumps(TRIAL_A) + ' (training); held-out evaluation trial ' + json.dumps(TRIAL_B) + '; generated by the repo, no patient data',
            'files': ['LICENSE'],
        },
        'source': 'trained in this repository: models/response-model/0.1.0/train/train.py (features from export-features.ts)',
        'network_data_format': {
            'inputs': {
                'features': {
                    'type': 'vector', 'format': 'features', 'num_channels': 5, 'spatial_shape': [], 'dtype': 'float32', 'layout': 'NC',
                    'is_patch_data': False,
                    'channel_def': {str(i): UNITS[k] for i, k in enumerate(FEATURES)},
                }
            },
            'outputs': {
                'probs': {
                    'type': 'vector', 'format': 'probabilities', 'num_channels': 2, 'spatial_shape': [], 'dtype': 'float32', 'layout': 'NC',
                    'value_range': [0, 1], 'is_patch_data': False,
                    'channel_def': {'0': OUTPUTS[0], '1': OUTPUTS[1]},
                }
            },
        },
        'classes': [],
        'preprocessing': {
            'feature_order': FEATURES,
            'feature_definitions': 'libs/endpoints/src/prediction.ts extractEarlyFeatures (README "Response model"): first follow-up on study days 1..70, steps weeks 1..4',
            'missing_values': 'replaced by impute_values (training means) before the graph; the flag is kept (ADPRED FEATIMP)',
            'impute_values': r(impute),
            'standardisation': 'inside the graph: z = (x - mean) / scale',
            'mean': r(np.asarray(mean, dtype=np.float32)),
            'scale': r(np.asarray(scale, dtype=np.float32)),
            'weights': {'W': [r(row) for row in np.asarray(W, dtype=np.float32)], 'b': r(np.asarray(b, dtype=np.float32))},
        },
        'postprocessing': {'argmax': False, 'note': 'probabilities are reported as they are; no threshold is applied'},
        'intended_use': 'Exploratory research only: early-signal hypothesis generation on simulated / trial data. Never an endpoint, never a '
                        'basis for an efficacy claim or a treatment decision; ADPRED rows are PARCAT1 EXPLORATORY AI PREDICTION with ANL01FL unset.',
        'limitations': [
            'Trained and evaluated only on synthetic trials from the repository simulator (outcomeCoupling: true); the relationship it learns '
            'is the simulator\'s documented generative model, not clinical evidence.',
            'Linear logistic model; missing features are mean-imputed, which biases predictions for subjects with missing early data toward the average.',
            'Features depend on the first follow-up being on study days 1..70 (q6w schedules); other schedules need a re-derived window.',
        ],
        'evaluation': {
            'data': 'held-out simulated trial B (seed 20262, 600 subjects), never used in fitting; training trial A figures for comparison',
            'training_n': {'confirmed_response': {'n': fit_n[0][0], 'positives': fit_n[0][1]}, 'progression_free_6m': {'n': fit_n[1][0], 'positives': fit_n[1][1]}},
            'metrics': ev,
            'metric_definitions': 'AUC (Mann-Whitney), Brier score (mean squared error of the probability), calibration intercept a and slope b '
                                  'from the unpenalised logistic recalibration logit P(y=1) = a + b logit(p); ideal a = 0, b = 1',
            'command': 'see models/response-model/0.1.0/train/README.md',
        },
    }
    with open(os.path.join(out_dir, 'card.json'), 'w') as f:
        json.dump(card, f, indent=2)
        f.write('\n')
    print(json.dumps({'sha256': sha, 'evaluation': ev}, indent=2))


if __name__ == '__main__':
    main()
