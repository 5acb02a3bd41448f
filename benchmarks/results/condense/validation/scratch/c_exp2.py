import sys, time, json, argparse, numpy as np
sys.path.insert(0, '.')
from benchmarks.common import split_arrays
from benchmarks import condense_protocol as P
from augment_tf import condense as C, runs
ap = argparse.ArgumentParser()
ap.add_argument('--run', default='/tmp/runs/cvae_val'); ap.add_argument('--k', type=int, default=10)
ap.add_argument('--pool', type=int, default=200); ap.add_argument('--nets', type=int, default=8)
ap.add_argument('--width', type=int, default=32); ap.add_argument('--real', type=int, default=1000)
ap.add_argument('--steps', type=int, default=500); ap.add_argument('--lr', type=float, default=0.05)
ap.add_argument('--augment', type=int, default=0); ap.add_argument('--seed', type=int, default=0)
ap.add_argument('--eval-seed', type=int, default=0); ap.add_argument('--save')
a = ap.parse_args()
(xtr, ytr), (xv, yv), _, _ = split_arrays('../shared/data/mnist', 'validation')
sampler, config = runs.load_sampler(a.run)
t0 = time.time()
x, y, rep = C.condense(sampler, config, [(xtr, ytr)], a.k, pool=a.pool, nets=a.nets, width=a.width, real_per_class=a.real,
                       steps=a.steps, learning_rate=a.lr, augment=bool(a.augment), seed=a.seed)
tc = time.time() - t0
if a.save: np.savez(a.save, x=x, y=y)
acc = P.train_and_score(x, y, xv, yv, seed=a.eval_seed)
print(json.dumps({**vars(a), 'acc': acc, 'condense_s': round(tc, 1), 'loss0': rep['matching_loss_herded'], 'loss': rep['matching_loss_refined']}), flush=True)
