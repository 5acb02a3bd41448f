import sys, time, numpy as np
sys.path.insert(0, '.')
from benchmarks.common import split_arrays
from benchmarks import condense_protocol as P
(xtr, ytr), (xv, yv), _, _ = split_arrays('../shared/data/mnist', 'validation')
K = int(sys.argv[1]); seed = int(sys.argv[2]) if len(sys.argv) > 2 else 0
rng = np.random.default_rng(seed)
idx = np.concatenate([rng.choice(np.flatnonzero(ytr == c), K, replace=False) for c in range(10)])
t = time.time()
acc = P.train_and_score(xtr[idx], ytr[idx], xv, yv, seed=seed)
print(f"K={K} seed={seed} random real val acc {acc:.4f} in {time.time()-t:.0f}s", flush=True)
