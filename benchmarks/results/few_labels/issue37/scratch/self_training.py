"""Scratch (issue 37): two rounds of the labelling classifier. Round 1 as a run trains it; round 2 a fresh network
whose labelled images are the 100 given plus every unlabelled image round 1 labels with confidence >= CUT.

    python benchmarks/results/few_labels/issue37/scratch/self_training.py [STEPS1 STEPS2 CUT]
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), *[".."] * 5)))
from augment_tf import data, pseudo_labels  # noqa: E402
from benchmarks import few_labels  # noqa: E402
from benchmarks.common import split_arrays  # noqa: E402
import numpy as np  # noqa: E402

steps1, steps2, cut = (int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])) if len(sys.argv) > 3 else (6000, 6000, 0.99)
(x, y), scored, _, _ = split_arrays("../shared/data/mnist", "validation")
labelled = few_labels.draw_labels(y, 100, np.random.default_rng([0, 100]))
given = np.where(labelled, y, data.UNLABELED)
out = {"steps": [steps1, steps2], "cut": cut}
begin = time.perf_counter()
curve = few_labels.AccuracyCurve(scored)
model = pseudo_labels.train_classifier(x, given, 10, seed=0, steps=steps1, callbacks=[curve])
out["round1"] = {"accuracy": few_labels.accuracy(model.predictor, *scored), "curve": curve.points,
                 "confusion": few_labels.confusion(model.predictor, *scored), "seconds": time.perf_counter() - begin}
p = model.predictor.predict(np.asarray(x, np.float32), batch_size=1000, verbose=0)
confident = (~labelled) & (p.max(1) >= cut)
second = np.where(confident, p.argmax(1), given)
out["round1"]["kept"] = [int(confident.sum()), float(np.mean(p.argmax(1)[confident] == y[confident]))]
print(json.dumps({k: v for k, v in out["round1"].items() if k != "curve"}), flush=True)
curve = few_labels.AccuracyCurve(scored)
model = pseudo_labels.train_classifier(x, second, 10, seed=1, steps=steps2, callbacks=[curve])
out["round2"] = {"accuracy": few_labels.accuracy(model.predictor, *scored), "curve": curve.points,
                 "confusion": few_labels.confusion(model.predictor, *scored), "seconds": time.perf_counter() - begin}
print(json.dumps({k: v for k, v in out["round2"].items() if k != "curve"}), flush=True)
with open(os.path.join(os.path.dirname(__file__), "..", f"self_training_{steps1}_{steps2}_{cut}.json"), "w") as f:
    json.dump(out, f)
