import sys, time, json, argparse, numpy as np
sys.path.insert(0, '.')
import tensorflow as tf
from benchmarks.common import split_arrays
from benchmarks import condense_protocol as P
from augment_tf import condense as C, runs, generate, images
ap = argparse.ArgumentParser()
ap.add_argument('--run', default='/tmp/runs/cvae_val'); ap.add_argument('--k', type=int, default=10)
ap.add_argument('--pool', type=int, default=200); ap.add_argument('--nets', type=int, default=4)
ap.add_argument('--width', type=int, default=32); ap.add_argument('--real', type=int, default=50000)
ap.add_argument('--method', default='herd'); ap.add_argument('--seed', type=int, default=0)
ap.add_argument('--steps', type=int, default=0); ap.add_argument('--lr', type=float, default=0.05); ap.add_argument('--prior', type=float, default=0.0)
ap.add_argument('--temperature', type=float, default=1.0); ap.add_argument('--eval-seed', type=int, default=0)
a = ap.parse_args()
(xtr, ytr), (xv, yv), _, _ = split_arrays('../shared/data/mnist', 'validation')
t0 = time.time()
sampler, config = runs.load_sampler(a.run)
rng = np.random.default_rng(a.seed)
if a.method == 'random':
    y = np.repeat(np.arange(10), a.k)
    x = generate.sample(sampler, config, labels=y, seed=a.seed, temperature=a.temperature)
else:
    nets = C.embedders((28, 28, 1), a.nets, a.width, a.seed)
    sub = rng.permutation(len(xtr))[:a.real]
    means, counts = C.class_means(nets, [(xtr[sub], ytr[sub])], 10)
    t1 = time.time()
    yp = np.repeat(np.arange(10), a.pool)
    xp = generate.sample(sampler, config, labels=yp, seed=a.seed, temperature=a.temperature)
    f = np.concatenate([C.embed(nets, images.to_unit_range(xp[i:i+1000])).numpy() for i in range(0, len(xp), 1000)]).astype(np.float64)
    idx = np.concatenate([np.flatnonzero(yp == c)[C.herd(f[yp == c], means[c], a.k)] for c in range(10)])
    x, y = xp[idx], yp[idx]
    if a.steps:
        zp = a.temperature * np.random.default_rng(a.seed).standard_normal((len(yp), config['latent_dim'])).astype('float32')
        t2 = time.time()
        z, losses = C.refine(sampler, config["value_range"], zp[idx], y, nets, means, a.steps, a.lr)
        print('loss', [round(l, 4) for l in losses[::max(1, a.steps // 10)]], losses[-1], f'{time.time()-t2:.0f}s', flush=True)
        x = images.from_model_range(sampler.predict([z, y.astype('int32')], verbose=0), config['value_range'])
        np.savez('/tmp/c_last.npz', x=x, y=y)
    print(f"means {t1-t0:.0f}s, pool+herd {time.time()-t1:.0f}s", flush=True)
tc = time.time() - t0
acc = P.train_and_score(x, y, xv, yv, seed=a.eval_seed)
print(json.dumps({**vars(a), 'acc': acc, 'condense_s': round(tc, 1)}), flush=True)
