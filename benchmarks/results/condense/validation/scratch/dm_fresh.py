"""Scratch: DM with a fresh random ConvNet per step (weights drawn in-graph), through the generator's codes."""
import sys, time, json, argparse, numpy as np
sys.path.insert(0, '/work/main')
import tensorflow as tf, keras
from benchmarks.common import split_arrays
from benchmarks import condense_protocol as P
from augment_tf import condense as C, runs, images

def random_embed(x, seed, width, depth=3):
    """x (N,H,W,C) -> flattened features of a ConvNet whose weights are drawn from the stateless seed."""
    for i in range(depth):
        fan_in = 9 * x.shape[-1]
        bound = 1.0 / np.sqrt(fan_in)
        w = tf.random.stateless_uniform((3, 3, x.shape[-1], width), seed + [0, 7 * i + 1], -bound, bound)
        b = tf.random.stateless_uniform((width,), seed + [0, 7 * i + 2], -bound, bound)
        x = tf.nn.conv2d(x, w, 1, "SAME") + b
        mean, var = tf.nn.moments(x, [1, 2], keepdims=True)
        x = tf.nn.relu((x - mean) * tf.math.rsqrt(var + 1e-5))
        x = tf.nn.avg_pool2d(x, 2, 2, "VALID")
    return tf.reshape(x, [tf.shape(x)[0], -1])

ap = argparse.ArgumentParser()
ap.add_argument('--run', default='/tmp/runs/cvae_val'); ap.add_argument('--k', type=int, default=10)
ap.add_argument('--width', type=int, default=32); ap.add_argument('--real', type=int, default=1000)
ap.add_argument('--real-batch', type=int, default=64)
ap.add_argument('--steps', type=int, default=500); ap.add_argument('--lr', type=float, default=0.05)
ap.add_argument('--init', default='herd'); ap.add_argument('--seed', type=int, default=0); ap.add_argument('--save')
ap.add_argument('--pixels', type=int, default=0); ap.add_argument('--pixel-lr', type=float, default=0.01)
a = ap.parse_args()
(xtr, ytr), (xv, yv), _, _ = split_arrays('../shared/data/mnist', 'validation')
sampler, config = runs.load_sampler(a.run)
t0 = time.time()
if a.init == 'herd':
    x0, y0, rep = C.condense(sampler, config, [(xtr, ytr)], a.k, steps=0, seed=a.seed)
# recover the herded codes: re-run the herd selection deterministically
rng = np.random.default_rng(a.seed)
pool_labels = np.repeat(np.arange(10), C.POOL)
pool_codes = rng.standard_normal((len(pool_labels), config['latent_dim'])).astype(np.float32)
if a.init == 'herd':
    pool_images = C.decode(sampler, config, pool_codes, pool_labels)
    # match images to find chosen rows
    chosen = np.array([np.flatnonzero((pool_images.reshape(len(pool_images), -1) == xi.reshape(1, -1)).all(1) & (pool_labels == yi))[0] for xi, yi in zip(x0, y0)])
else:
    chosen = np.concatenate([np.flatnonzero(pool_labels == c)[:a.k] for c in range(10)])
codes, labels = pool_codes[chosen], pool_labels[chosen]
real = np.stack([xtr[ytr == c][:a.real] for c in range(10)])[..., None].astype(np.float32) / 255  # (10, R, 28, 28, 1)
real = tf.constant(real)
low, high = config['value_range']
z = tf.Variable(codes); lab = tf.constant(labels, tf.int32)
opt = keras.optimizers.Adam(a.lr); opt.build([z])
counter = tf.Variable(0, dtype=tf.int32)

@tf.function(jit_compile=True)
def step():
    seed = tf.stack([a.seed + 12345, counter])
    idx = tf.random.stateless_uniform((10, a.real_batch), seed + [0, 99], 0, a.real, dtype=tf.int32)
    rb = tf.reshape(tf.gather(real, idx, batch_dims=1), [-1, 28, 28, 1])
    rf = tf.reshape(random_embed(rb, seed, a.width), [10, a.real_batch, -1])
    target = tf.reduce_mean(rf, 1)
    with tf.GradientTape() as tape:
        x = (sampler([z, lab], training=False) - low) / (high - low)
        f = random_embed(x, seed, a.width)
        loss = C.matching_loss(f, lab, target)
    opt.apply_gradients([(tape.gradient(loss, z), z)])
    counter.assign_add(1)
    return loss
losses = [float(step()) for _ in range(a.steps)]
print('loss', [round(np.mean(losses[i:i+50]), 3) for i in range(0, a.steps, max(50, a.steps // 10))], flush=True)
x = C.decode(sampler, config, z.numpy(), labels)
if a.pixels:
    px = tf.Variable(x.astype(np.float32) / 255)
    popt = keras.optimizers.Adam(a.pixel_lr); popt.build([px])
    @tf.function(jit_compile=True)
    def pstep():
        seed = tf.stack([a.seed + 54321, counter])
        idx = tf.random.stateless_uniform((10, a.real_batch), seed + [0, 99], 0, a.real, dtype=tf.int32)
        rb = tf.reshape(tf.gather(real, idx, batch_dims=1), [-1, 28, 28, 1])
        target = tf.reduce_mean(tf.reshape(random_embed(rb, seed, a.width), [10, a.real_batch, -1]), 1)
        with tf.GradientTape() as tape:
            loss = C.matching_loss(random_embed(px, seed, a.width), lab, target)
        popt.apply_gradients([(tape.gradient(loss, px), px)])
        px.assign(tf.clip_by_value(px, 0, 1))
        counter.assign_add(1)
        return loss
    pl = [float(pstep()) for _ in range(a.pixels)]
    print('pixel loss', [round(np.mean(pl[i:i+50]), 3) for i in range(0, a.pixels, max(50, a.pixels // 10))], flush=True)
    x = np.rint(px.numpy() * 255).astype(np.uint8)
tc = time.time() - t0
if a.save: np.savez(a.save, x=x, y=labels)
acc = P.train_and_score(x, labels, xv, yv, seed=0)
print(json.dumps({**vars(a), 'acc': acc, 'condense_s': round(tc, 1)}), flush=True)
